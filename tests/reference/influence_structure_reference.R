## Group-deletion influence of lme fits with a residual correlation structure: each
## subject deleted in turn and the model refitted (mixedext's results.influence() with
## cov_struct=).
##
## Run from the repository root (after make_sim_data.py / make_cov_data.py):
##     Rscript tests/reference/influence_structure_reference.R
## Writes tests/reference/influence_structure_reference.json.
##
## The full fit and every refit use nlme::lme with nlme_reference.R's tight controls
## under both optimizers (nlminb, optim), keeping the higher log-likelihood. From the
## refits the script computes, explicitly:
##   cooks_distance  (b - b_(-i))' V^-1 (b - b_(-i)) / p, V = vcov of the full fit;
##   dfbetas         (b_(-i) - b) / sqrt(diag(vcov of the refit));
##   re_var, sigma   the refit's random-intercept variance and residual SD;
##   cor             the refit's correlation parameter (coef(corStruct, unconstrained =
##                   FALSE)); llf its logLik (the REML criterion's under REML).

suppressPackageStartupMessages({
  library(nlme)
  library(jsonlite)
})

source(file.path("tests", "reference", "common.R"))

sim_dir <- file.path("tests", "reference", "data")
out_file <- file.path("tests", "reference", "influence_structure_reference.json")
lme_ctrl <- function(opt)
  lmeControl(msMaxIter = 500, maxIter = 500, tolerance = 1e-10, msTol = 1e-12,
             niterEM = 100, opt = opt)

cases <- list(
  ar1_reml = list(fixed = "y ~ t + trt + x", group = "subject", method = "REML",
                  correlation = "corAR1(form = ~ t | subject)", kind = "ar1", time = "t",
                  data_file = file.path(sim_dir, "panel_ar1.csv")),
  car1_ml = list(fixed = "y ~ time", group = "subject", method = "ML",
                 correlation = "corCAR1(form = ~ time | subject)", kind = "car1",
                 time = "time", data_file = file.path(sim_dir, "panel_car1.csv"))
)

fit_best <- function(cs, d) {
  fits <- lapply(c("nlminb", "optim"), function(opt) tryCatch(
    eval(bquote(lme(.(as.formula(cs$fixed)), random = .(as.formula(paste("~ 1 |", cs$group))),
                    correlation = .(str2lang(cs$correlation)), data = d,
                    method = .(cs$method), control = lme_ctrl(.(opt))))),
    error = function(e) NULL))
  fits <- Filter(Negate(is.null), fits)
  llf <- sapply(fits, function(m) as.numeric(logLik(m)))
  fits[[which.max(llf)]]
}

summary_of <- function(m) {
  list(llf = as.numeric(logLik(m)), sigma = m$sigma, nobs = nobs(m),
       fixef = as.list(fixef(m)), fixef_se = as.list(sqrt(diag(vcov(m)))),
       re_var = as.numeric(getVarCov(m)[1, 1]),
       cor = unname(coef(m$modelStruct$corStruct, unconstrained = FALSE)))
}

results <- list()
for (cname in names(cases)) {
  cs <- cases[[cname]]
  d <- read.csv(cs$data_file, stringsAsFactors = FALSE)
  d[[cs$group]] <- factor(d[[cs$group]])
  m <- fit_best(cs, d)
  b <- fixef(m)
  V <- as.matrix(vcov(m))
  p <- length(b)
  rows <- list()
  for (u in levels(d[[cs$group]])) {
    sub <- droplevels(d[d[[cs$group]] != u, ])
    mi <- fit_best(cs, sub)
    db <- fixef(mi) - b
    rows[[length(rows) + 1]] <- c(list(
      unit = u,
      cooks_distance = as.numeric(t(db) %*% solve(V) %*% db) / p,
      dfbetas = as.list(db / sqrt(diag(as.matrix(vcov(mi)))))), summary_of(mi))
  }
  results[[length(results) + 1]] <- c(list(
    case = cname, fixed = cs$fixed, group = cs$group, method = cs$method,
    correlation = cs$correlation, kind = cs$kind, time = cs$time,
    data_file = cs$data_file, fixef_names = I(names(b)), vcov = unname(V)),
    summary_of(m), list(deletions = rows))
  cat(sprintf("%-10s %d units, max Cook %.4g\n", cname, length(rows),
              max(sapply(rows, `[[`, "cooks_distance"))))
}

out <- list(
  meta = c(package_versions(c("nlme", "jsonlite")), list(
    date = format(Sys.time(), "%Y-%m-%d"),
    script = "tests/reference/influence_structure_reference.R",
    controls = "lmeControl(msMaxIter = 500, maxIter = 500, tolerance = 1e-10, msTol = 1e-12, niterEM = 100) with opt = nlminb and optim; the higher logLik kept, for the full fit and every refit",
    notes = I(c(
      "deletions: one entry per subject (factor level order); the refit uses the other subjects' rows (droplevels).",
      "cooks_distance = (b_(-i) - b)' solve(vcov(full)) (b_(-i) - b) / p; dfbetas = (b_(-i) - b) / sqrt(diag(vcov(refit))).",
      "re_var: getVarCov(m)[1, 1], the random-intercept variance; sigma: the residual SD; cor: coef(corStruct, unconstrained = FALSE) (rho of corAR1, phi of corCAR1)."
    ))
  )),
  cases = results)
write_reference(out, out_file)
cat("wrote", out_file, "\n")
