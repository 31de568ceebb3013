## Export the classic lme4 / nlme / metafor data sets used by the mixedext tests as CSV files
## shipped with the package (mixedext/datasets/data/).
##
## Run from the repository root:
##     Rscript tests/reference/export_datasets.R
##
## Factors (including nlme's ordered grouping factors) are written as their labels;
## the original R column names are kept; row names are dropped.

suppressPackageStartupMessages({
  library(lme4)
  library(nlme)
  library(metafor)  # dat.bcg (from the metadat package, loaded by metafor)
})

outdir <- file.path("mixedext", "datasets", "data")
if (!dir.exists(outdir)) dir.create(outdir, recursive = TRUE)

## strip nlme's groupedData classes / attributes and turn factors into plain labels
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
  sleepstudy  = plain(lme4::sleepstudy),
  pastes      = plain(lme4::Pastes),
  penicillin  = plain(lme4::Penicillin),
  dyestuff    = plain(lme4::Dyestuff),
  dyestuff2   = plain(lme4::Dyestuff2),
  cbpp        = plain(lme4::cbpp),
  orthodont   = plain(nlme::Orthodont),
  ovary       = plain(nlme::Ovary, c("Mare", "Time", "follicles")),
  bodyweight  = plain(nlme::BodyWeight),
  bcg         = plain(dat.bcg)
)

for (nm in names(sets)) {
  f <- file.path(outdir, paste0(nm, ".csv"))
  write.csv(sets[[nm]], f, row.names = FALSE)
  cat(sprintf("wrote %-45s %4d rows: %s\n", f, nrow(sets[[nm]]),
              paste(names(sets[[nm]]), collapse = ", ")))
}
