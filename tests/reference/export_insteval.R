## lme4's InstEval (university lecture evaluations by students; 73,421 ratings of 1,128
## instructors by 2,972 students) -> mixedext/datasets/data/insteval.csv.gz.
##
## Run from the repository root:  Rscript tests/reference/export_insteval.R
## Factors are written as their labels; the loader (mixedext.datasets.load("insteval"))
## restores them as Categoricals with R's level order.
suppressPackageStartupMessages(library(lme4))
data(InstEval, package = "lme4")
d <- InstEval
for (v in names(d)) if (is.factor(d[[v]])) d[[v]] <- as.character(d[[v]])
out <- gzfile(file.path("mixedext", "datasets", "data", "insteval.csv.gz"), "w")
write.csv(d, out, row.names = FALSE)
close(out)
cat("levels:\n")
for (v in c("studage", "lectage", "service", "dept"))
  cat(v, ":", paste(levels(InstEval[[v]]), collapse = ", "), "\n")
