## lme4 reference fits for the mixedext engine tests.
##
## Run from the repository root, after export_datasets.R and make_sim_data.py:
##     Rscript tests/reference/lmer_reference.R
## Writes tests/reference/lmer_reference.json.
##
## Every case is fitted with REML = TRUE and REML = FALSE, each with two tightly
## controlled optimizers (bobyqa from minqa, and nloptwrap = NLopt's BOBYQA) started
## from lme4's default start. The fit with the lower objective is kept; as a check it is
## re-fitted with the *other* optimizer started at its optimum, and the absolute
## difference of the two objectives is stored as "check_deviance_diff".

suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})

source(file.path("tests", "reference", "common.R"))

classic_dir <- file.path("mixedext", "datasets", "data")
sim_dir <- file.path("tests", "reference", "data")
out_file <- file.path("tests", "reference", "lmer_reference.json")

ctrl <- lmer_tight_controls()

## name -> list(formula, data label, csv path, grouping columns made into factors)
## "data" is the bundled data set's name (the CSV's stem, as in mixedext.datasets) for
## classic data, the CSV path for simulated data; "data_file" is always the CSV path.

cases <- list(
  sleepstudy_slope = c(list(formula = "Reaction ~ Days + (Days | Subject)"),
                       classic("sleepstudy", "sleepstudy.csv", "Subject")),
  sleepstudy_intercept = c(list(formula = "Reaction ~ Days + (1 | Subject)"),
                           classic("sleepstudy", "sleepstudy.csv", "Subject")),
  sleepstudy_uncorr = c(list(formula = "Reaction ~ Days + (1 | Subject) + (0 + Days | Subject)"),
                        classic("sleepstudy", "sleepstudy.csv", "Subject")),
  pastes_nested = c(list(formula = "strength ~ 1 + (1 | batch/cask)"),
                    classic("pastes", "pastes.csv", c("batch", "cask", "sample"))),
  penicillin_crossed = c(list(formula = "diameter ~ 1 + (1 | plate) + (1 | sample)"),
                         classic("penicillin", "penicillin.csv", c("plate", "sample"))),
  dyestuff = c(list(formula = "Yield ~ 1 + (1 | Batch)"),
               classic("dyestuff", "dyestuff.csv", "Batch")),
  dyestuff2_singular = c(list(formula = "Yield ~ 1 + (1 | Batch)"),
                         classic("dyestuff2", "dyestuff2.csv", "Batch")),
  nested3 = c(list(formula = "y ~ x + (1 | a/b/c)"),
              simulated("nested3.csv", c("a", "b", "c"))),
  ri_unequal = c(list(formula = "y ~ x + (1 | unit)"),
                 simulated("ri_unequal.csv", "unit")),
  crossed_sim = c(list(formula = "y ~ x + (1 | item) + (1 | subj)"),
                  simulated("crossed_sim.csv", c("item", "subj"))),
  orthodont_slope = c(list(formula = "distance ~ age + Sex + (age | Subject)"),
                      classic("orthodont", "orthodont.csv", c("Subject", "Sex")))
)

read_case_data <- function(cs) {
  d <- read.csv(cs$path, stringsAsFactors = FALSE)
  ## factor() sorts levels: numerically for integer codes, alphabetically for strings
  ## (so Orthodont's Sex has levels Female, Male, as patsy would code it)
  for (f in cs$factors) d[[f]] <- factor(d[[f]])
  d
}

## fit and collect warnings / messages instead of printing them
fit_quiet <- function(formula, data, REML, optimizer, start = NULL) {
  msgs <- character(0)
  m <- withCallingHandlers(
    lmer(as.formula(formula), data = data, REML = REML, control = ctrl[[optimizer]],
         start = start),
    warning = function(w) {
      msgs <<- c(msgs, paste("warning:", conditionMessage(w)))
      invokeRestart("muffleWarning")
    },
    message = function(mm) {
      msgs <<- c(msgs, paste("message:", trimws(conditionMessage(mm))))
      invokeRestart("muffleMessage")
    })
  list(model = m, msgs = msgs, crit = -2 * as.numeric(logLik(m)))
}

## conditional SDs (sqrt of the diagonal of postVar) as a levels x terms matrix

num_or_null <- function(x) if (is.na(x)) NULL else x

extract <- function(m) {
  fe <- fixef(m)
  V <- as.matrix(vcov(m))
  th <- getME(m, "theta")
  varcorr <- varcorr_rows(m)
  ranef_out <- ranef_blocks(m)
  list(
    nobs = nobs(m),
    llf = as.numeric(logLik(m)),
    deviance_or_reml_crit = -2 * as.numeric(logLik(m)),
    aic = AIC(m),
    bic = BIC(m),
    fixef_names = I(names(fe)),
    fixef = as.list(fe),
    fixef_se = as.list(setNames(sqrt(diag(V)), names(fe))),
    vcov = unname(V),
    sigma = sigma(m),
    theta = I(unname(th)),
    theta_names = I(names(th)),
    varcorr = varcorr,
    ranef = ranef_out,
    singular = isSingular(m)
  )
}

results <- list()
for (cname in names(cases)) {
  cs <- cases[[cname]]
  d <- read_case_data(cs)
  for (reml in c(TRUE, FALSE)) {
    fits <- lapply(names(ctrl), function(o) fit_quiet(cs$formula, d, reml, o))
    names(fits) <- names(ctrl)
    crits <- sapply(fits, `[[`, "crit")
    best_name <- names(ctrl)[which.min(crits)]
    other_name <- setdiff(names(ctrl), best_name)
    best <- fits[[best_name]]
    check <- fit_quiet(cs$formula, d, reml, other_name,
                       start = list(theta = getME(best$model, "theta")))
    m <- best$model
    ## lme4's own convergence / boundary messages plus any warning or message raised
    ## while fitting (the singular-fit message appears in both: keep it once)
    lme4_msgs <- as.character(unlist(m@optinfo$conv$lme4$messages))
    conv_msgs <- unique(c(lme4_msgs, sub("^(warning|message): ", "", best$msgs)))
    is_boundary <- grepl("boundary \\(singular\\) fit", conv_msgs)
    converged <- m@optinfo$conv$opt == 0 && !any(grepl("^warning:", best$msgs)) &&
      all(is_boundary)
    entry <- c(
      list(case = cname, reml = reml, data = cs$data, data_file = cs$path,
           formula = cs$formula),
      extract(m),
      list(
        optimizer = best_name,
        optimizer_code = m@optinfo$conv$opt,
        optimizer_crits = as.list(crits),
        check_optimizer = other_name,
        check_deviance_diff = abs(check$crit - best$crit),
        optimizer_message = if (is.null(m@optinfo$message)) NA else m@optinfo$message,
        converged = converged,
        converged_messages = I(as.character(conv_msgs))
      ))
    results[[length(results) + 1]] <- entry
    cat(sprintf("%-22s REML=%-5s llf=%.8f opt=%-9s |bobyqa-nlopt|=%.2e check=%.2e singular=%s msgs=%d\n",
                cname, reml, entry$llf, best_name, abs(diff(crits)),
                entry$check_deviance_diff, entry$singular, length(conv_msgs)))
  }
}

out <- list(
  meta = list(
    r_version = R.version.string,
    lme4_version = as.character(packageVersion("lme4")),
    matrix_version = as.character(packageVersion("Matrix")),
    minqa_version = as.character(packageVersion("minqa")),
    nloptr_version = as.character(packageVersion("nloptr")),
    date = format(Sys.time(), "%Y-%m-%d"),
    script = "tests/reference/lmer_reference.R",
    controls = list(
      bobyqa = "lmerControl(optimizer = 'bobyqa', optCtrl = list(rhobeg = 2e-4, rhoend = 2e-10, maxfun = 1e5))",
      nloptwrap = "lmerControl(optimizer = 'nloptwrap', optCtrl = list(xtol_abs = 1e-12, ftol_abs = 1e-14, maxeval = 1e5))"
    ),
    notes = I(c(
      "deviance_or_reml_crit = -2 * llf; under REML it is the REML criterion and llf/aic/bic are REML-based.",
      "optimizer_crits: objective reached by each optimizer from lme4's default start; the lower one is reported.",
      "check_deviance_diff: |objective| difference after re-fitting with check_optimizer started at the reported theta.",
      "ranef condsd = sqrt(diag(attr(ranef(m, condVar = TRUE)[[g]], 'postVar'))), on the scale of the random effects (includes sigma^2).",
      "converged: optimizer return code 0, no warning while fitting, and no lme4 convergence message other than 'boundary (singular) fit' (a singular fit is a legitimate optimum; see 'singular').",
      "Grouping columns are made factors with factor(): levels sorted (numerically for integer codes); Orthodont Sex has levels Female, Male."
    ))
  ),
  cases = results
)

write_reference(out, out_file)
cat("wrote", out_file, "\n")
