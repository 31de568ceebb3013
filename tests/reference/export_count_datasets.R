## Export the public count / positive-outcome data sets used by count_reference.R as CSV
## files shipped with the package (mixedext/datasets/data/), like export_datasets.R.
##
## Run from the repository root:
##     Rscript tests/reference/export_count_datasets.R
##
## lme4's grouseticks, glmmTMB's Owls and Salamanders, nlme's Earthquake. Factors
## (including ordered ones) are written as their labels; the original R column names and
## row order are kept; row names are dropped. write.csv writes 15 significant digits, and
## count_reference.R reads these files back, so R and the Python tests see the same numbers.

suppressPackageStartupMessages({
  library(lme4)
  library(glmmTMB)
  library(nlme)
})

outdir <- file.path("mixedext", "datasets", "data")
if (!dir.exists(outdir)) dir.create(outdir, recursive = TRUE)

plain <- function(d, cols = NULL) {
  d <- as.data.frame(d)
  if (!is.null(cols)) d <- d[, cols, drop = FALSE]
  for (nm in names(d)) {
    if (is.factor(d[[nm]])) d[[nm]] <- as.character(d[[nm]])
  }
  attributes(d) <- list(names = names(d), row.names = seq_len(nrow(d)),
                        class = "data.frame")
  d
}

sets <- list(
  grouseticks = plain(lme4::grouseticks),
  owls        = plain(glmmTMB::Owls),
  salamanders = plain(glmmTMB::Salamanders),
  earthquake  = plain(nlme::Earthquake)
)

for (nm in names(sets)) {
  f <- file.path(outdir, paste0(nm, ".csv"))
  write.csv(sets[[nm]], f, row.names = FALSE)
  cat(sprintf("wrote %-45s %4d rows: %s\n", f, nrow(sets[[nm]]),
              paste(names(sets[[nm]]), collapse = ", ")))
}
