## lme4 reference fits of the nested call-center model (695,205 rows).
##
## Run from the repository root:
##     python tests/reference/write_callcenter_csv.py /tmp/callcenter.csv
##     Rscript tests/reference/lmer_callcenter.R /tmp/callcenter.csv
## Writes tests/reference/lmer_callcenter.json. The CSV (~35 MB) is not committed: it is
## mixedext.datasets.call_center() written with full float precision; its sha256 and a
## cheap fingerprint (row count, column sums) are stored in the JSON, and
## tests/test_call_center.py checks the regenerated data against the fingerprint.
##
## Model: call_CSAT ~ reason + age + (1 | center_ID/rep_ID), by REML and by ML.
## Protocol (as lmer_reference.R): from lme4's default start, fit with two tightly
## controlled optimizers (bobyqa from minqa; nloptwrap = NLopt's BOBYQA), keep the lower
## objective, and re-fit with the other optimizer started at its theta as a check
## ("check_deviance_diff"). The wall time of each fit is recorded, and so is the time of
## a fit with lme4's DEFAULT settings (system.time of lmer() alone: model construction +
## fit, data already in memory).

suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})

source(file.path("tests", "reference", "common.R"))

args <- commandArgs(trailingOnly = TRUE)
csv_file <- if (length(args) >= 1) args[1] else "/tmp/callcenter.csv"
out_file <- if (length(args) >= 2) args[2] else
  file.path("tests", "reference", "lmer_callcenter.json")
formula_str <- "call_CSAT ~ reason + age + (1 | center_ID/rep_ID)"

ctrl <- lmer_tight_controls()

file_sha256 <- function(path) {
  out <- tryCatch(system2("sha256sum", shQuote(path), stdout = TRUE),
                  error = function(e) character(0), warning = function(w) character(0))
  if (length(out) == 1) return(sub(" .*$", "", out))
  if (requireNamespace("digest", quietly = TRUE))
    return(digest::digest(path, algo = "sha256", file = TRUE))
  NA_character_
}

d <- read.csv(csv_file, stringsAsFactors = FALSE,
              colClasses = c(center_ID = "integer", rep_ID = "integer", age = "integer",
                             reason = "character", month = "integer",
                             call_CSAT = "numeric", M6Spend = "numeric"))
## fingerprint of the data as read (the Python writer prints the same quantities)
data_info <- list(
  file = csv_file,
  sha256 = file_sha256(csv_file),
  nrow = nrow(d),
  sum_call_CSAT = sum(d$call_CSAT),
  sum_age = sum(as.numeric(d$age)),
  sum_M6Spend = sum(d$M6Spend),
  n_property = sum(d$reason == "property"),
  n_reps = length(unique(d$rep_ID)),
  n_centers = length(unique(d$center_ID)),
  writer = "tests/reference/write_callcenter_csv.py"
)
## factor() sorts levels: numerically for the integer ids, alphabetically for reason
## (payment, property: the same treatment coding as patsy's reason[T.property])
d$center_ID <- factor(d$center_ID)
d$rep_ID <- factor(d$rep_ID)
d$reason <- factor(d$reason)
cat(sprintf("read %s: %d rows, sha256 %s\n", csv_file, nrow(d), data_info$sha256))

## fit and collect warnings / messages instead of printing them; wall time of lmer()
fit_quiet <- function(REML, control = lmerControl(), start = NULL) {
  msgs <- character(0)
  m <- NULL
  tm <- system.time(m <- withCallingHandlers(
    lmer(as.formula(formula_str), data = d, REML = REML, control = control, start = start),
    warning = function(w) {
      msgs <<- c(msgs, paste("warning:", conditionMessage(w)))
      invokeRestart("muffleWarning")
    },
    message = function(mm) {
      msgs <<- c(msgs, paste("message:", trimws(conditionMessage(mm))))
      invokeRestart("muffleMessage")
    }))
  list(model = m, msgs = msgs, crit = -2 * as.numeric(logLik(m)),
       seconds = unname(tm[["elapsed"]]))
}

extract <- function(m) {
  fe <- fixef(m)
  V <- as.matrix(vcov(m))
  th <- getME(m, "theta")
  varcorr <- varcorr_rows(m)
  list(
    nobs = nobs(m),
    llf = as.numeric(logLik(m)),
    deviance_or_reml_crit = -2 * as.numeric(logLik(m)),
    fixef_names = I(names(fe)),
    fixef = as.list(fe),
    fixef_se = as.list(setNames(sqrt(diag(V)), names(fe))),
    vcov = unname(V),
    sigma = sigma(m),
    theta = I(unname(th)),
    theta_names = I(names(th)),
    varcorr = varcorr,
    ngrps = as.list(ngrps(m)),
    singular = isSingular(m)
  )
}

results <- list()
for (reml in c(TRUE, FALSE)) {
  ## lme4's defaults, timed (the first call also pays any lazy loading: run it twice,
  ## keep both times)
  default_fits <- list(fit_quiet(reml), fit_quiet(reml))
  default_fit <- default_fits[[2]]

  fits <- lapply(names(ctrl), function(o) fit_quiet(reml, ctrl[[o]]))
  names(fits) <- names(ctrl)
  crits <- sapply(fits, `[[`, "crit")
  best_name <- names(ctrl)[which.min(crits)]
  other_name <- setdiff(names(ctrl), best_name)
  best <- fits[[best_name]]
  check <- fit_quiet(reml, ctrl[[other_name]],
                     start = list(theta = getME(best$model, "theta")))
  m <- best$model
  lme4_msgs <- as.character(unlist(m@optinfo$conv$lme4$messages))
  conv_msgs <- unique(c(lme4_msgs, sub("^(warning|message): ", "", best$msgs)))
  is_boundary <- grepl("boundary \\(singular\\) fit", conv_msgs)
  converged <- m@optinfo$conv$opt == 0 && !any(grepl("^warning:", best$msgs)) &&
    all(is_boundary)
  entry <- c(
    list(case = "call_center_nested", reml = reml, formula = formula_str),
    extract(m),
    list(
      optimizer = best_name,
      optimizer_code = m@optinfo$conv$opt,
      optimizer_feval = m@optinfo$feval,
      optimizer_crits = as.list(crits),
      check_optimizer = other_name,
      check_deviance_diff = abs(check$crit - best$crit),
      converged = converged,
      converged_messages = I(as.character(conv_msgs)),
      seconds = as.list(sapply(fits, `[[`, "seconds")),
      default_fit = list(
        seconds = default_fit$seconds,
        seconds_first_call = default_fits[[1]]$seconds,
        llf = as.numeric(logLik(default_fit$model)),
        llf_short_of_best = as.numeric(logLik(default_fit$model)) + best$crit / 2,
        theta = I(unname(getME(default_fit$model, "theta"))),
        optimizer = default_fit$model@optinfo$optimizer,
        feval = default_fit$model@optinfo$feval,
        messages = I(as.character(default_fit$msgs))
      )
    ))
  results[[length(results) + 1]] <- entry
  cat(sprintf(paste0("REML=%-5s llf=%.8f opt=%-9s |bobyqa-nlopt|=%.2e check=%.2e ",
                     "tight %s s, default %.2f s (llf %.8f)\n"),
              reml, entry$llf, best_name, abs(diff(crits)), entry$check_deviance_diff,
              paste(sprintf("%.2f", unlist(entry$seconds)), collapse = "/"),
              default_fit$seconds, entry$default_fit$llf))
}

out <- list(
  meta = list(
    r_version = R.version.string,
    lme4_version = as.character(packageVersion("lme4")),
    matrix_version = as.character(packageVersion("Matrix")),
    minqa_version = as.character(packageVersion("minqa")),
    nloptr_version = as.character(packageVersion("nloptr")),
    date = format(Sys.time(), "%Y-%m-%d"),
    machine = paste(Sys.info()[["sysname"]], Sys.info()[["machine"]],
                    parallel::detectCores(), "cores"),
    script = "tests/reference/lmer_callcenter.R",
    data = data_info,
    controls = list(
      bobyqa = "lmerControl(optimizer = 'bobyqa', optCtrl = list(rhobeg = 2e-4, rhoend = 2e-10, maxfun = 1e5))",
      nloptwrap = "lmerControl(optimizer = 'nloptwrap', optCtrl = list(xtol_abs = 1e-12, ftol_abs = 1e-14, maxeval = 1e5))",
      default = "lmerControl() (lme4's defaults: nloptwrap BOBYQA, default tolerances)"
    ),
    notes = I(c(
      "Data: mixedext.datasets.call_center() (seed 10) written by tests/reference/write_callcenter_csv.py; meta$data holds the file's sha256 and a fingerprint computed in R from the CSV as read.",
      "deviance_or_reml_crit = -2 * llf; under REML it is the REML criterion and llf is the REML log-likelihood.",
      "optimizer_crits: objective reached by each tight optimizer from lme4's default start; the lower one is reported.",
      "check_deviance_diff: |objective| difference after re-fitting with check_optimizer started at the reported theta.",
      "seconds: wall time (system.time elapsed) of lmer() with each tight control; default_fit: the same with lme4's default control (second of two calls; seconds_first_call is the first), and how far its llf is below the reported optimum.",
      "varcorr: rows of as.data.frame(VarCorr(m)), innermost level first (rep_ID:center_ID, center_ID, Residual)."
    ))
  ),
  cases = results
)

write_reference(out, out_file)
cat("wrote", out_file, "\n")
