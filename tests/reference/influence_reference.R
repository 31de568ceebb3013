## Group-deletion influence of lmer fits: each unit of one level deleted in turn and the
## model refitted (mixedext's results.influence(level)).
##
## Run from the repository root (after export_datasets.R and make_sim_data.py):
##     Rscript tests/reference/influence_reference.R
## Writes tests/reference/influence_reference.json.
##
## The full fit and every refit use lme4 with both tight controls of common.R from
## lme4's default start, keeping the lower criterion (as lmer_reference.R). From the
## refits the script computes, explicitly:
##   cooks_distance  (b - b_(-i))' V^-1 (b - b_(-i)) / p, V = vcov of the full fit
##                   (influence.ME's cooks.distance.estex);
##   cooks_lme4      lme4's cooks.distance(influence(m, groups)): the same times
##                   (K - p) / K, K the number of deleted units;
##   dfbeta          b_(-i) - b (lme4's dfbeta.influence.merMod, formerly car's);
##   dfbetas         dfbeta / sqrt(diag(vcov of the refit)) (dfbetas.influence.merMod);
##   varcorr         the refit's as.data.frame(VarCorr()) rows; llf its logLik (REML
##                   criterion's under REML); sigma.
## lme4's own influence() (default controls, started at the full theta) is stored too
## ("lme4_influence"), as a check of the definitions.
##
## GLMM case (cbpp_herd): glmer(family = binomial, nAGQ = 1) with glmer_reference.R's two
## tight controls (tolPwrss = 1e-12), the lower deviance kept, for the full fit and every
## refit; vcov() as glmer's default (use.hessian = TRUE).

suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})

source(file.path("tests", "reference", "common.R"))

classic_dir <- file.path("mixedext", "datasets", "data")
sim_dir <- file.path("tests", "reference", "data")
out_file <- file.path("tests", "reference", "influence_reference.json")
ctrl <- lmer_tight_controls()

cases <- list(
  sleepstudy_slope = c(list(formula = "Reaction ~ Days + (Days | Subject)",
                            group = "Subject", reml = TRUE),
                       classic("sleepstudy", "sleepstudy.csv", "Subject")),
  sleepstudy_slope_ml = c(list(formula = "Reaction ~ Days + (Days | Subject)",
                               group = "Subject", reml = FALSE),
                          classic("sleepstudy", "sleepstudy.csv", "Subject")),
  pastes_nested = c(list(formula = "strength ~ 1 + (1 | batch/cask)", group = "batch",
                         reml = TRUE),
                    classic("pastes", "pastes.csv", c("batch", "cask", "sample"))),
  penicillin_crossed = c(list(formula = "diameter ~ 1 + (1 | plate) + (1 | sample)",
                              group = "plate", reml = TRUE),
                         classic("penicillin", "penicillin.csv", c("plate", "sample"))),
  crossed_sim = c(list(formula = "y ~ x + (1 | item) + (1 | subj)", group = "subj",
                       reml = TRUE),
                  simulated("crossed_sim.csv", c("item", "subj"))),
  ## 60 outer units that every term nests in: mixedext refits these deletions together
  nested_units = c(list(formula = "y ~ x + (1 | a/b)", group = "a", reml = TRUE),
                   simulated("nested_units.csv", c("a", "b"))),
  nested_units_slope_ml = c(list(formula = "y ~ x + (1 + x | a)", group = "a",
                                 reml = FALSE),
                            simulated("nested_units.csv", c("a", "b"))),
  cbpp_herd = c(list(formula = "cbind(incidence, size - incidence) ~ period + (1 | herd)",
                     group = "herd", reml = NA, family = "binomial"),
                classic("cbpp", "cbpp.csv", c("herd", "period")))
)

glmer_ctrl <- list(
  bobyqa = glmerControl(optimizer = "bobyqa", optCtrl = list(maxfun = 1e5, rhoend = 1e-10),
                        tolPwrss = 1e-12),
  nloptwrap = glmerControl(optimizer = "nloptwrap",
                           optCtrl = list(xtol_abs = 1e-12, ftol_abs = 1e-14, maxeval = 1e5),
                           tolPwrss = 1e-12))

read_case_data <- function(cs) {
  d <- read.csv(cs$path, stringsAsFactors = FALSE)
  for (f in cs$factors) d[[f]] <- factor(d[[f]])
  d
}

## the fit with the lower criterion of the two tight controls (glmer for a family)
best_fit <- function(formula, data, reml, family = NULL) {
  fits <- lapply(names(ctrl), function(o) quietly(
    if (is.null(family))
      eval(bquote(lmer(.(as.formula(formula)), data = data, REML = .(reml),
                       control = ctrl[[.(o)]])))
    else
      eval(bquote(glmer(.(as.formula(formula)), data = data, family = .(family),
                        control = glmer_ctrl[[.(o)]])))))
  crits <- sapply(fits, function(f) -2 * as.numeric(logLik(f$value)))
  k <- which.min(crits)
  list(model = fits[[k]]$value, optimizer = names(ctrl)[k], msgs = fits[[k]]$msgs,
       crit_diff = abs(diff(crits)))
}

results <- list()
for (cname in names(cases)) {
  cs <- cases[[cname]]
  d <- read_case_data(cs)
  full <- best_fit(cs$formula, d, cs$reml, cs$family)
  m <- full$model
  b <- fixef(m)
  V <- as.matrix(vcov(m))
  p <- length(b)
  units <- levels(d[[cs$group]])
  K <- length(units)
  rows <- list()
  for (u in units) {
    sub <- droplevels(d[d[[cs$group]] != u, ])
    f <- best_fit(cs$formula, sub, cs$reml, cs$family)
    mi <- f$model
    bi <- fixef(mi)
    Vi <- as.matrix(vcov(mi))
    db <- bi - b
    cook <- as.numeric(t(db) %*% solve(V) %*% db) / p
    rows[[length(rows) + 1]] <- list(
      unit = u, nobs = nobs(mi), llf = as.numeric(logLik(mi)), sigma = sigma(mi),
      fixef = as.list(bi), fixef_se = as.list(setNames(sqrt(diag(Vi)), names(bi))),
      theta = I(unname(getME(mi, "theta"))),
      varcorr = varcorr_rows(mi),
      cooks_distance = cook, cooks_lme4 = cook * (K - p) / K,
      dfbeta = as.list(db), dfbetas = as.list(db / sqrt(diag(Vi))),
      optimizer = f$optimizer, optimizer_crit_diff = f$crit_diff,
      messages = I(f$msgs))
  }
  ## lme4's own influence(), default controls from the full theta
  inf <- quietly(influence(m, groups = cs$group, data = d))
  li <- inf$value
  lme4_inf <- list(
    units = I(rownames(li[[2]])),
    cooks_distance = I(unname(cooks.distance(li))),
    ## (lme4 1.1.31's dfbetas.influence.merMod fails for one fixed effect: null)
    dfbetas = tryCatch(unname(as.matrix(dfbetas(li))), error = function(e) NA),
    messages = I(inf$msgs))
  results[[length(results) + 1]] <- list(
    case = cname, formula = cs$formula, group = cs$group, reml = cs$reml,
    family = if (is.null(cs$family)) NA else cs$family,
    data = cs$data, data_file = cs$path, nobs = nobs(m),
    llf = as.numeric(logLik(m)), sigma = sigma(m),
    fixef_names = I(names(b)), fixef = as.list(b), vcov = unname(V),
    theta = I(unname(getME(m, "theta"))), varcorr = varcorr_rows(m),
    optimizer = full$optimizer, messages = I(full$msgs),
    deletions = rows, lme4_influence = lme4_inf)
  cooks <- sapply(rows, `[[`, "cooks_distance")
  cat(sprintf("%-20s %d units, max Cook %.4g, |cooks*(K-p)/K - lme4| max %.2e\n",
              cname, K, max(cooks),
              max(abs(sapply(rows, `[[`, "cooks_lme4")[match(lme4_inf$units, units)]
                      - lme4_inf$cooks_distance))))
}

out <- list(
  meta = c(package_versions(c("lme4", "Matrix", "jsonlite")), list(
    date = format(Sys.time(), "%Y-%m-%d"),
    script = "tests/reference/influence_reference.R",
    controls = "both tight controls of common.R (bobyqa, nloptwrap) from lme4's default start; lower criterion kept, for the full fit and every refit",
    notes = I(c(
      "deletions: one entry per unit of `group` (factor level order); the refit uses the rows of the other units (droplevels).",
      "cooks_distance = (b_(-i) - b)' solve(vcov(full)) (b_(-i) - b) / p (influence.ME); cooks_lme4 = cooks_distance * (K - p) / K as lme4's cooks.distance.influence.merMod.",
      "dfbeta = b_(-i) - b; dfbetas = dfbeta / sqrt(diag(vcov(refit))) (lme4's dfbeta / dfbetas for influence.merMod, formerly car's).",
      "llf: logLik of the refit (the REML log-likelihood under REML; Laplace for glmer); varcorr as lmer_reference.json.",
      "cbpp_herd: glmer(binomial, nAGQ = 1), tolPwrss = 1e-12, reml null; its fixed effects are period2..4 as factor(period).",
      "lme4_influence: lme4's influence(m, groups = group) with its default control (maxfun = 1000) started at the full theta: a check of the definitions, not a tight reference."
    ))
  )),
  cases = results)
write_reference(out, out_file)
cat("wrote", out_file, "\n")
