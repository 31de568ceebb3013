## lme4 / lmerTest / pbkrtest references for mixedext's inference tools.
##
## Run from the repository root, after export_datasets.R, make_sim_data.py and
## make_inference_data.py:
##     Rscript tests/reference/inference_reference.R
## Writes tests/reference/inference_reference.json.
##
## Blocks (see the README section "Inference references"):
##   satterthwaite  lmerTest summary / anova(type 3) with Satterthwaite df (and Kenward-Roger
##                  when pbkrtest is installed), contest() on the students model
##   profile_ci     confint(method = "profile", oldNames = FALSE), REML and ML fits
##   wald_ci        confint(method = "Wald"), REML and ML fits
##   predictions    predict(newdata, allow.new.levels = TRUE) and predict(re.form = NA)
##   icc_profile    brute-force profile-likelihood CI of the ICC for ri_unequal (ML and REML)
##
## Fits follow lmer_reference.R: every model is fitted from lme4's default start with two
## tightly controlled optimizers (bobyqa, nloptwrap), the lower objective is kept, and it is
## re-fitted with the other optimizer started at its optimum ("check_deviance_diff").

suppressPackageStartupMessages({
  library(lme4)
  library(lmerTest)
  library(jsonlite)
})

source(file.path("tests", "reference", "common.R"))

classic_dir <- file.path("mixedext", "datasets", "data")
sim_dir <- file.path("tests", "reference", "data")
out_file <- file.path("tests", "reference", "inference_reference.json")
lmer_ref_file <- file.path("tests", "reference", "lmer_reference.json")

have_pbkrtest <- requireNamespace("pbkrtest", quietly = TRUE)

ctrl <- lmer_tight_controls()


cases <- list(
  sleepstudy_slope = c(list(formula = "Reaction ~ Days + (Days | Subject)"),
                       classic("sleepstudy", "sleepstudy.csv", "Subject")),
  pastes_nested = c(list(formula = "strength ~ 1 + (1 | batch/cask)"),
                    classic("pastes", "pastes.csv", c("batch", "cask", "sample"))),
  nested3 = c(list(formula = "y ~ x + (1 | a/b/c)"),
              simulated("nested3.csv", c("a", "b", "c"))),
  students_small = c(list(formula = "score ~ hs_gpa + method + (1 | instructor)"),
                     simulated("students_small.csv", c("instructor", "method"))),
  ri_unequal = c(list(formula = "y ~ x + (1 | unit)"),
                 simulated("ri_unequal.csv", "unit"))
)

read_case_data <- function(cs) {
  d <- read.csv(cs$path, stringsAsFactors = FALSE)
  ## factor() sorts levels: numerically for integer codes, alphabetically for strings
  ## (students_small: method levels m0 < m1 < ... < m4, m0 the reference level)
  for (f in cs$factors) d[[f]] <- factor(d[[f]])
  d
}

## evaluate expr, collecting warnings and messages instead of printing them
quietly <- function(expr) {
  msgs <- character(0)
  value <- withCallingHandlers(
    expr,
    warning = function(w) {
      msgs <<- c(msgs, paste("warning:", conditionMessage(w)))
      invokeRestart("muffleWarning")
    },
    message = function(mm) {
      msgs <<- c(msgs, paste("message:", trimws(conditionMessage(mm))))
      invokeRestart("muffleMessage")
    })
  list(value = value, msgs = msgs)
}

fit_quiet <- function(formula, data, REML, optimizer, start = NULL) {
  r <- quietly(lme4::lmer(as.formula(formula), data = data, REML = REML,
                          control = ctrl[[optimizer]], start = start))
  list(model = r$value, msgs = r$msgs, crit = -2 * as.numeric(logLik(r$value)))
}

## the tight fitting protocol of lmer_reference.R
fit_best <- function(cs, d, reml) {
  fits <- lapply(names(ctrl), function(o) fit_quiet(cs$formula, d, reml, o))
  names(fits) <- names(ctrl)
  crits <- sapply(fits, `[[`, "crit")
  best_name <- names(ctrl)[which.min(crits)]
  other_name <- setdiff(names(ctrl), best_name)
  best <- fits[[best_name]]
  check <- fit_quiet(cs$formula, d, reml, other_name,
                     start = list(theta = getME(best$model, "theta")))
  m <- best$model
  lme4_msgs <- as.character(unlist(m@optinfo$conv$lme4$messages))
  conv_msgs <- unique(c(lme4_msgs, sub("^(warning|message): ", "", best$msgs)))
  converged <- m@optinfo$conv$opt == 0 && length(conv_msgs) == 0
  list(model = m,
       info = list(
         llf = as.numeric(logLik(m)),
         deviance_or_reml_crit = -2 * as.numeric(logLik(m)),
         optimizer = best_name,
         optimizer_crits = as.list(crits),
         check_optimizer = other_name,
         check_deviance_diff = abs(check$crit - best$crit),
         converged = converged,
         singular = isSingular(m),
         converged_messages = I(as.character(conv_msgs))))
}

lmer_ref <- fromJSON(lmer_ref_file, simplifyVector = FALSE)$cases
ref_llf <- function(cname, reml) {
  for (e in lmer_ref) if (e$case == cname && identical(e$reml, reml)) return(e$llf)
  NA
}

## --- helpers turning R tables into lists of rows --------------------------------------

num_or_null <- function(x) if (length(x) == 0 || is.na(x)) NA else unname(x)

coef_rows <- function(tab) {
  ## summary(...)$coefficients of an lmerModLmerTest: Estimate, Std. Error, df, t value, Pr(>|t|)
  lapply(seq_len(nrow(tab)), function(i) list(
    term = rownames(tab)[i],
    estimate = unname(tab[i, "Estimate"]),
    std_error = unname(tab[i, "Std. Error"]),
    df = unname(tab[i, "df"]),
    t_value = unname(tab[i, "t value"]),
    p_value = unname(tab[i, "Pr(>|t|)"])))
}

ftab_rows <- function(tab) {
  ## anova(...) / contest(joint = TRUE): Sum Sq, Mean Sq, NumDF, DenDF, F value, Pr(>F)
  tab <- as.data.frame(tab)
  lapply(seq_len(nrow(tab)), function(i) list(
    term = rownames(tab)[i],
    sum_sq = num_or_null(tab[i, "Sum Sq"]),
    mean_sq = num_or_null(tab[i, "Mean Sq"]),
    num_df = num_or_null(tab[i, "NumDF"]),
    den_df = num_or_null(tab[i, "DenDF"]),
    f_value = num_or_null(tab[i, "F value"]),
    p_value = num_or_null(tab[i, "Pr(>F)"])))
}

tab1d_rows <- function(tab) {
  ## contest1D / contest(joint = FALSE): Estimate, Std. Error, df, t value, Pr(>|t|)
  tab <- as.data.frame(tab)
  lapply(seq_len(nrow(tab)), function(i) list(
    estimate = unname(tab[i, "Estimate"]),
    std_error = unname(tab[i, "Std. Error"]),
    df = unname(tab[i, "df"]),
    t_value = unname(tab[i, "t value"]),
    p_value = unname(tab[i, "Pr(>|t|)"])))
}

ci_rows <- function(ci) {
  lapply(seq_len(nrow(ci)), function(i) list(
    parm = rownames(ci)[i],
    lower = num_or_null(ci[i, 1]),
    upper = num_or_null(ci[i, 2])))
}

case_header <- function(cname, cs, m, reml) list(
  case = cname, reml = reml, data = cs$data, data_file = cs$path, formula = cs$formula,
  nobs = nobs(m))

## --- fit everything once ---------------------------------------------------------------

data_cache <- lapply(cases, read_case_data)
fits <- list()
for (cname in names(cases)) {
  for (reml in c(TRUE, FALSE)) {
    key <- paste(cname, if (reml) "REML" else "ML")
    fits[[key]] <- fit_best(cases[[cname]], data_cache[[cname]], reml)
    inf <- fits[[key]]$info
    cat(sprintf("%-16s %-4s llf=%.8f opt=%-9s check=%.2e lmer_reference diff=%s\n",
                cname, if (reml) "REML" else "ML", inf$llf, inf$optimizer,
                inf$check_deviance_diff,
                format(inf$llf - ref_llf(cname, reml))))
  }
}
get_fit <- function(cname, reml) fits[[paste(cname, if (reml) "REML" else "ML")]]

fit_block <- function(cname, reml) {
  f <- get_fit(cname, reml)
  c(f$info, list(llf_minus_lmer_reference = num_or_null(f$info$llf - ref_llf(cname, reml))))
}

## --- 1. Satterthwaite / Kenward-Roger / contest ----------------------------------------

satt <- list()
for (cname in c("sleepstudy_slope", "pastes_nested", "nested3", "students_small")) {
  cs <- cases[[cname]]
  f <- get_fit(cname, TRUE)
  mt <- as_lmerModLmerTest(f$model)
  s_sat <- quietly(summary(mt, ddf = "Satterthwaite"))
  a_sat <- quietly(anova(mt, type = 3, ddf = "Satterthwaite"))
  entry <- c(case_header(cname, cs, mt, TRUE),
             list(fit = fit_block(cname, TRUE),
                  fixef_names = I(names(fixef(mt))),
                  vcov_varpar = unname(mt@vcov_varpar),
                  satterthwaite = list(
                    coefficients = coef_rows(s_sat$value$coefficients),
                    anova_type3 = ftab_rows(a_sat$value),
                    messages = I(c(s_sat$msgs, a_sat$msgs)))))
  if (have_pbkrtest) {
    s_kr <- quietly(summary(mt, ddf = "Kenward-Roger"))
    a_kr <- quietly(anova(mt, type = 3, ddf = "Kenward-Roger"))
    entry$kenward_roger <- list(
      coefficients = coef_rows(s_kr$value$coefficients),
      anova_type3 = ftab_rows(a_kr$value),
      messages = I(c(s_kr$msgs, a_kr$msgs)))
  } else {
    entry$kenward_roger <- NA
  }
  if (cname == "students_small") {
    fe <- names(fixef(mt))
    stopifnot(identical(fe, c("(Intercept)", "hs_gpa", "methodm1", "methodm2",
                              "methodm3", "methodm4")))
    contrasts <- list(
      list(name = "m1_minus_m2",
           description = "methodm1 - methodm2 (difference of methods m1 and m2), 1 df",
           L = matrix(c(0, 0, 1, -1, 0, 0), nrow = 1)),
      list(name = "m3_and_m4_joint",
           description = "joint test methodm3 = methodm4 = 0 (m3 and m4 vs the reference m0), 2 df",
           L = rbind(c(0, 0, 0, 0, 1, 0), c(0, 0, 0, 0, 0, 1))))
    entry$contests <- lapply(contrasts, function(ct) {
      L <- ct$L
      colnames(L) <- fe
      out <- list(name = ct$name, description = ct$description,
                  L = unname(L), L_colnames = I(fe), rhs = 0,
                  satterthwaite = list(
                    joint_F = ftab_rows(contest(mt, L, ddf = "Satterthwaite", joint = TRUE)),
                    by_row_t = tab1d_rows(contest(mt, L, ddf = "Satterthwaite",
                                                  joint = FALSE, confint = FALSE))))
      if (nrow(L) == 1)
        out$satterthwaite$contest1D <- tab1d_rows(contest1D(mt, L, ddf = "Satterthwaite"))
      if (have_pbkrtest) {
        out$kenward_roger <- list(
          joint_F = ftab_rows(contest(mt, L, ddf = "Kenward-Roger", joint = TRUE)),
          by_row_t = tab1d_rows(contest(mt, L, ddf = "Kenward-Roger",
                                        joint = FALSE, confint = FALSE)))
      }
      out
    })
  }
  satt[[length(satt) + 1]] <- entry
  cat("satterthwaite:", cname, "done\n")
}

## --- 2./3. profile and Wald intervals -------------------------------------------------

## Exact profile-likelihood endpoints by root finding (no profile grid, no splines), as an
## accuracy check of confint()'s interpolated endpoints. ML deviance throughout (what lme4
## profiles). Variance parameters: lme4:::devfun2() (the ML deviance as a function of
## sd / cor / sigma, fixed effects profiled out), minimised over the other variance
## parameters by bobyqa with the one parameter held fixed. Fixed effect j: the response
## shifted by b * X[, j], column j dropped, ML deviance minimised over theta.
exact_profile_ci <- function(m_ml, formula, data, level = 0.95, parnames) {
  stopifnot(!isREML(m_ml))
  crit <- qchisq(level, 1)
  dd <- lme4:::devfun2(m_ml, useSc = TRUE, signames = FALSE)
  base <- attr(dd, "basedev")
  opt <- attr(dd, "optimum")
  p <- length(fixef(m_ml))
  nvp <- length(opt) - p
  vp <- unname(opt[seq_len(nvp)])
  is_cor <- grepl("^cor_", parnames[seq_len(nvp)])
  lowb <- ifelse(is_cor, -1, 0)
  upb <- ifelse(is_cor, 1, Inf)
  inner_ctrl <- list(rhobeg = 1e-3, rhoend = 1e-11, maxfun = 1e5)
  prof_dev_vp <- function(j, val) {
    if (nvp == 1) return(dd(val))
    f <- function(x) { q <- vp; q[j] <- val; q[-j] <- x; dd(q) }
    best <- Inf
    for (st in list(vp[-j], pmin(pmax(vp[-j] * 1.1, lowb[-j] + 1e-3), upb[-j] - 1e-3))) {
      o <- minqa::bobyqa(st, f, lower = lowb[-j], upper = upb[-j], control = inner_ctrl)
      best <- min(best, o$fval)
    }
    best
  }
  lf <- lFormula(as.formula(formula), data = data, REML = FALSE)
  X <- lf$X
  th0 <- getME(m_ml, "theta")
  prof_dev_fe <- function(j, b) {
    fr <- lf$fr
    fr[[1]] <- fr[[1]] - b * X[, j]
    dfun <- mkLmerDevfun(fr, X[, -j, drop = FALSE], lf$reTrms, REML = FALSE)
    o <- minqa::bobyqa(th0, dfun, lower = lf$reTrms$lower, control = inner_ctrl)
    o$fval
  }
  find_root <- function(g, est, lo_bound, hi_bound, step0) {
    ## lower endpoint: step outwards (doubling) until the cutoff is crossed, then uniroot
    step <- step0
    lower <- NA
    a <- est
    repeat {
      b <- max(a - step, lo_bound)
      if (g(b) > 0) { lower <- uniroot(g, c(b, a), tol = 1e-10)$root; break }
      if (b <= lo_bound) { lower <- lo_bound; break }
      a <- b; step <- 2 * step
    }
    upper <- NA
    a <- est; step <- step0
    repeat {
      b <- min(a + step, hi_bound)
      if (g(b) > 0) { upper <- uniroot(g, c(a, b), tol = 1e-10)$root; break }
      if (b >= hi_bound) { upper <- hi_bound; break }
      a <- b; step <- 2 * step
    }
    c(lower, upper)
  }
  ses <- sqrt(diag(as.matrix(vcov(m_ml))))
  out <- matrix(NA, length(opt), 2, dimnames = list(parnames, c("lower", "upper")))
  for (j in seq_len(nvp)) {
    g <- function(v) prof_dev_vp(j, v) - base - crit
    step0 <- if (is_cor[j]) 0.05 else 0.1 * max(vp[j], 1e-3)
    out[j, ] <- find_root(g, vp[j], lowb[j], upb[j], step0)
  }
  for (k in seq_len(p)) {
    g <- function(b) prof_dev_fe(k, b) - base - crit
    step0 <- ses[k]
    out[nvp + k, ] <- find_root(g, fixef(m_ml)[[k]], -Inf, Inf, step0)
  }
  out
}

prof <- list()
wald <- list()
for (cname in c("sleepstudy_slope", "pastes_nested")) {
  cs <- cases[[cname]]
  for (reml in c(TRUE, FALSE)) {
    f <- get_fit(cname, reml)
    m <- f$model
    pr <- quietly(confint(m, method = "profile", oldNames = FALSE, level = 0.95))
    ## accuracy check: a 4x finer profile grid (delta.cutoff 1/32 instead of 1/8)
    pr_fine <- quietly(confint(m, method = "profile", oldNames = FALSE, level = 0.95,
                               delta.cutoff = 1 / 32, maxpts = 400))
    ci <- pr$value
    ci_fine <- pr_fine$value
    stopifnot(identical(rownames(ci), rownames(ci_fine)))
    ## the point estimates on the same scale (sd / cor / sigma / fixef)
    est <- c(setNames(lme4:::Cv_to_Sv(getME(m, "theta"), n = lengths(m@cnms),
                                       s = sigma(m)),
                      rownames(ci)[seq_len(nrow(ci) - length(fixef(m)))]),
             fixef(m))
    prof[[length(prof) + 1]] <- c(
      case_header(cname, cs, m, reml),
      list(fit = fit_block(cname, reml),
           fit_criterion = if (reml) "REML" else "ML",
           profiled_criterion = "ML deviance (lme4 refits a REML fit by ML before profiling)",
           level = 0.95,
           call = "confint(m, method = 'profile', oldNames = FALSE, level = 0.95)",
           rows = ci_rows(ci),
           estimates = as.list(est),
           estimates_note = "the fit's own estimates (REML or ML) on the profile scale: sd_, cor_, sigma, fixed effects",
           messages = I(pr$msgs),
           check_fine_grid = list(
             call = "confint(m, method = 'profile', oldNames = FALSE, level = 0.95, delta.cutoff = 1/32, maxpts = 400)",
             rows = ci_rows(ci_fine),
             max_abs_diff = max(abs(ci - ci_fine), na.rm = TRUE),
             max_rel_diff = max(abs(ci - ci_fine) / abs(ci_fine), na.rm = TRUE),
             messages = I(pr_fine$msgs))))
    ## exact endpoints (same for the REML and the ML entry: lme4 profiles the ML deviance)
    ex <- exact_profile_ci(get_fit(cname, FALSE)$model, cs$formula, data_cache[[cname]],
                           level = 0.95, parnames = rownames(ci))
    prof[[length(prof)]]$check_exact_root_finding <- list(
      description = paste(
        "endpoints of the ML profile deviance by root finding (uniroot tol 1e-10) without",
        "lme4's profile grid and spline interpolation; variance parameters via lme4:::devfun2",
        "of the ML fit minimised over the other variance parameters (minqa::bobyqa),",
        "fixed effects via the shifted-response ML deviance minimised over theta; a lower",
        "endpoint 0 means the profile stays below the cutoff down to the boundary"),
      rows = ci_rows(ex),
      max_abs_diff_confint = max(abs(ci - ex), na.rm = TRUE),
      max_rel_diff_confint = max((abs(ci - ex) / abs(ex))[ex != 0], na.rm = TRUE),
      max_abs_diff_fine_grid = max(abs(ci_fine - ex), na.rm = TRUE))
    cat("   exact vs confint max abs diff", max(abs(ci - ex)), " vs fine grid",
        max(abs(ci_fine - ex)), "\n")
    wd <- confint(m, method = "Wald", oldNames = FALSE, level = 0.95)
    wald[[length(wald) + 1]] <- c(
      case_header(cname, cs, m, reml),
      list(fit_criterion = if (reml) "REML" else "ML",
           level = 0.95,
           call = "confint(m, method = 'Wald', oldNames = FALSE, level = 0.95)",
           rows = ci_rows(wd),
           fixef_se = as.list(sqrt(diag(as.matrix(vcov(m))))),
           z = qnorm(0.975)))
    cat("profile/Wald:", cname, if (reml) "REML" else "ML",
        "fine-grid max abs diff", max(abs(ci - ci_fine), na.rm = TRUE), "\n")
  }
}

## --- 4. predictions --------------------------------------------------------------------

preds <- list()
{
  cname <- "sleepstudy_slope"
  m <- get_fit(cname, TRUE)$model
  nd <- data.frame(Subject = c(rep("308", 3), rep("335", 3), rep("999", 2)),
                   Days = c(0, 5, 12, 0, 5, 12, 0, 5), stringsAsFactors = FALSE)
  p_cond <- predict(m, newdata = nd, allow.new.levels = TRUE)
  p_pop <- predict(m, newdata = nd, re.form = NA)
  ## by hand: fixed part + BLUPs of seen subjects (0 for the unseen one)
  re <- ranef(m)$Subject
  b <- as.matrix(re[match(nd$Subject, rownames(re)), , drop = FALSE])
  b[is.na(b)] <- 0
  X <- cbind(1, nd$Days)
  p_hand <- drop(X %*% fixef(m)) + b[, 1] + b[, 2] * nd$Days
  preds[[1]] <- c(
    case_header(cname, cases[[cname]], m, TRUE),
    list(newdata = lapply(seq_len(nrow(nd)), function(i) list(
           Subject = nd$Subject[i], Days = nd$Days[i], seen = nd$Subject[i] %in% rownames(re))),
         conditional = unname(p_cond),
         conditional_call = "predict(m, newdata = nd, allow.new.levels = TRUE)",
         population = unname(p_pop),
         population_call = "predict(m, newdata = nd, re.form = NA)",
         check_max_abs_diff_by_hand = max(abs(p_cond - p_hand))))
}
{
  cname <- "pastes_nested"
  m <- get_fit(cname, TRUE)$model
  nd <- data.frame(batch = c("A", "A", "Z"), cask = c("a", "z", "a"),
                   stringsAsFactors = FALSE)
  p_cond <- predict(m, newdata = nd, allow.new.levels = TRUE)
  p_pop <- predict(m, newdata = nd, re.form = NA)
  re <- ranef(m)
  rb <- re$batch[, 1][match(nd$batch, rownames(re$batch))]
  rc <- re$`cask:batch`[, 1][match(paste(nd$cask, nd$batch, sep = ":"),
                                     rownames(re$`cask:batch`))]
  rb[is.na(rb)] <- 0
  rc[is.na(rc)] <- 0
  p_hand <- fixef(m)[[1]] + rb + rc
  preds[[2]] <- c(
    case_header(cname, cases[[cname]], m, TRUE),
    list(newdata = lapply(seq_len(nrow(nd)), function(i) list(
           batch = nd$batch[i], cask = nd$cask[i],
           seen_batch = nd$batch[i] %in% rownames(re$batch),
           seen_cask_in_batch = paste(nd$cask[i], nd$batch[i], sep = ":") %in%
             rownames(re$`cask:batch`))),
         conditional = unname(p_cond),
         conditional_call = "predict(m, newdata = nd, allow.new.levels = TRUE)",
         population = unname(p_pop),
         population_call = "predict(m, newdata = nd, re.form = NA)",
         blup_batch = unname(rb),
         blup_cask_in_batch = unname(rc),
         check_max_abs_diff_by_hand = max(abs(p_cond - p_hand))))
}
cat("predictions done\n")

## --- 5. profile-likelihood CI of the ICC (ri_unequal) -----------------------------------

## Independent closed-form log-likelihood of the random-intercept model at a fixed ICC rho,
## profiling the fixed effects (GLS) and the total variance T analytically.
## Per unit i (size n_i): V_i = T * R_i, R_i = (1 - rho) I + rho J,
## |R_i| = (1 - rho)^(n_i - 1) (1 - rho + n_i rho),
## R_i^-1 = (I - rho / (1 - rho + n_i rho) J) / (1 - rho).
closed_form_llf <- function(rho, y, X, g, REML) {
  n <- length(y); p <- ncol(X)
  idx <- split(seq_len(n), g)
  XtRX <- matrix(0, p, p); XtRy <- numeric(p); logdetR <- 0
  for (ii in idx) {
    ni <- length(ii); c1 <- 1 - rho; c2 <- rho / (1 - rho + ni * rho)
    Xi <- X[ii, , drop = FALSE]; yi <- y[ii]
    sx <- colSums(Xi); sy <- sum(yi)
    XtRX <- XtRX + (crossprod(Xi) - c2 * tcrossprod(sx)) / c1
    XtRy <- XtRy + (drop(crossprod(Xi, yi)) - c2 * sx * sy) / c1
    logdetR <- logdetR + (ni - 1) * log(c1) + log(1 - rho + ni * rho)
  }
  beta <- solve(XtRX, XtRy)
  r <- y - drop(X %*% beta)
  q <- 0
  for (ii in idx) {
    ni <- length(ii); c1 <- 1 - rho; c2 <- rho / (1 - rho + ni * rho)
    ri <- r[ii]
    q <- q + (sum(ri^2) - c2 * sum(ri)^2) / c1
  }
  if (!REML) {
    T <- q / n
    -0.5 * (n * log(2 * pi * T) + logdetR + n)
  } else {
    T <- q / (n - p)
    ## log|V| = n log T + log|R|, log|X'V^-1 X| = log|X'R^-1 X / T|, r'V^-1 r = n - p
    -0.5 * ((n - p) * log(2 * pi) + n * log(T) + logdetR + (n - p) +
              as.numeric(determinant(XtRX / T, logarithm = TRUE)$modulus))
  }
}

icc_out <- list()
{
  cname <- "ri_unequal"
  cs <- cases[[cname]]
  d <- data_cache[[cname]]
  X <- model.matrix(~ x, d)
  crit <- qchisq(0.95, 1)
  for (reml in c(FALSE, TRUE)) {
    devfun <- lme4::lmer(y ~ x + (1 | unit), data = d, REML = reml, devFunOnly = TRUE)
    theta_of <- function(icc) sqrt(icc / (1 - icc))
    llf_icc <- function(icc) -0.5 * devfun(theta_of(icc))
    ## maximum: tight 1-d optimisation over theta (the profiled deviance is a function
    ## of theta alone), started around the tight lmer fit
    f <- get_fit(cname, reml)
    th_fit <- getME(f$model, "theta")[[1]]
    opt <- optimize(function(th) devfun(th), c(0.5 * th_fit, 1.5 * th_fit), tol = 1e-12)
    th_hat <- if (opt$objective <= devfun(th_fit)) opt$minimum else th_fit
    max_llf <- -0.5 * devfun(th_hat)
    icc_hat <- th_hat^2 / (1 + th_hat^2)
    g <- function(icc) 2 * (max_llf - llf_icc(icc)) - crit
    stopifnot(g(1e-8) > 0, g(1 - 1e-8) > 0)
    lo <- uniroot(g, c(1e-8, icc_hat), tol = 1e-10)
    hi <- uniroot(g, c(icc_hat, 1 - 1e-8), tol = 1e-10)
    grid <- sort(unique(c(seq(0.05, 0.40, by = 0.025), icc_hat, lo$root, hi$root)))
    m <- f$model
    vc <- as.data.frame(VarCorr(m))
    s2u <- vc$vcov[vc$grp == "unit"]; s2e <- sigma(m)^2
    cf_hat <- closed_form_llf(icc_hat, d$y, X, d$unit, reml)
    cf_lo <- closed_form_llf(lo$root, d$y, X, d$unit, reml)
    cf_hi <- closed_form_llf(hi$root, d$y, X, d$unit, reml)
    ## closed-form endpoints (independent of lme4) for comparison
    cf_max <- optimize(function(r) -closed_form_llf(r, d$y, X, d$unit, reml),
                       c(1e-4, 0.9), tol = 1e-12)
    cf_g <- function(icc) 2 * (-cf_max$objective - closed_form_llf(icc, d$y, X, d$unit, reml)) - crit
    cf_lo_root <- uniroot(cf_g, c(1e-4, cf_max$minimum), tol = 1e-10)$root
    cf_hi_root <- uniroot(cf_g, c(cf_max$minimum, 0.99), tol = 1e-10)$root
    icc_out[[length(icc_out) + 1]] <- c(
      case_header(cname, cs, m, reml),
      list(criterion = if (reml) "REML" else "ML",
           quantity = "ICC = sigma2_u / (sigma2_u + sigma2_e)",
           level = 0.95,
           chisq_crit = crit,
           method = paste0(
             "profile over ICC: for fixed ICC the relative factor theta = sqrt(ICC/(1-ICC)) is fixed; ",
             "llf(ICC) = -devfun(theta)/2 with devfun = lmer(y ~ x + (1 | unit), REML = ",
             if (reml) "TRUE" else "FALSE",
             ", devFunOnly = TRUE) (beta and the total variance profiled out); ",
             "endpoints solve 2*(max_llf - llf(ICC)) = qchisq(0.95, 1) by uniroot(tol = 1e-10)"),
           icc_hat = icc_hat,
           lower = lo$root,
           upper = hi$root,
           max_llf = max_llf,
           theta_hat = th_hat,
           sigma2_u_hat = s2u,
           sigma2_e_hat = s2e,
           icc_from_fit = s2u / (s2u + s2e),
           max_llf_minus_fit_llf = max_llf - f$info$llf,
           llf_at_lower = llf_icc(lo$root),
           llf_at_upper = llf_icc(hi$root),
           uniroot_estim_prec = list(lower = lo$estim.prec, upper = hi$estim.prec),
           grid = lapply(grid, function(r) list(icc = r, llf = llf_icc(r))),
           check_closed_form = list(
             description = "independent closed-form (compound-symmetry) log-likelihood with GLS beta and analytic total variance",
             llf_at_icc_hat_minus_lme4 = cf_hat - max_llf,
             llf_at_lower_minus_lme4 = cf_lo - llf_icc(lo$root),
             llf_at_upper_minus_lme4 = cf_hi - llf_icc(hi$root),
             icc_hat = cf_max$minimum,
             lower = cf_lo_root,
             upper = cf_hi_root)))
    cat(sprintf("ICC %s: hat=%.8f [%.8f, %.8f] max_llf=%.8f closed-form [%.8f, %.8f] dllf=%.2e\n",
                if (reml) "REML" else "ML", icc_hat, lo$root, hi$root, max_llf,
                cf_lo_root, cf_hi_root, cf_hat - max_llf))
  }
}

## --- write ------------------------------------------------------------------------------

out <- list(
  meta = list(
    r_version = R.version.string,
    lme4_version = as.character(packageVersion("lme4")),
    lmerTest_version = as.character(packageVersion("lmerTest")),
    pbkrtest_version = if (have_pbkrtest) as.character(packageVersion("pbkrtest")) else NA,
    numDeriv_version = as.character(packageVersion("numDeriv")),
    matrix_version = as.character(packageVersion("Matrix")),
    minqa_version = as.character(packageVersion("minqa")),
    nloptr_version = as.character(packageVersion("nloptr")),
    jsonlite_version = as.character(packageVersion("jsonlite")),
    date = format(Sys.time(), "%Y-%m-%d"),
    script = "tests/reference/inference_reference.R",
    controls = list(
      bobyqa = "lmerControl(optimizer = 'bobyqa', optCtrl = list(rhobeg = 2e-4, rhoend = 2e-10, maxfun = 1e5))",
      nloptwrap = "lmerControl(optimizer = 'nloptwrap', optCtrl = list(xtol_abs = 1e-12, ftol_abs = 1e-14, maxeval = 1e5))"
    ),
    notes = I(c(
      "Fits: lmer_reference.R's protocol (two tight optimizers from the default start, lower objective kept, re-fitted with the other optimizer from that optimum: check_deviance_diff). 'fit' blocks give llf, optimizer and llf_minus_lmer_reference.",
      "satterthwaite: lmerTest::as_lmerModLmerTest() of the REML fit; coefficients = summary(m, ddf)$coefficients, anova_type3 = anova(m, type = 3, ddf); columns renamed: Estimate -> estimate, Std. Error -> std_error, df, t value -> t_value, Pr(>|t|) -> p_value; Sum Sq -> sum_sq, Mean Sq -> mean_sq, NumDF -> num_df, DenDF -> den_df, F value -> f_value, Pr(>F) -> p_value. vcov_varpar: lmerTest's asymptotic covariance of (theta, sigma) used for the Satterthwaite df.",
      "kenward_roger: the same with ddf = 'Kenward-Roger' (pbkrtest); null if pbkrtest is not installed.",
      "contests (students_small only): L is a row-major matrix (rows = contrasts) over L_colnames; joint_F = contest(m, L, joint = TRUE), by_row_t = contest(m, L, joint = FALSE), contest1D for 1-row L.",
      "profile_ci: confint(m, method = 'profile', oldNames = FALSE); lme4 row names sd_<term>|<group>, cor_<term2>.<term1>|<group>, sigma, then fixed-effect names. lme4 profiles the ML deviance even for a REML fit (devfun2() calls refitML()), so REML and ML fits give (up to profile-grid noise) the same intervals.",
      "wald_ci: confint(m, method = 'Wald'): fixef +/- qnorm(0.975) * SE from vcov(m) (REML vcov for the REML fit); variance-parameter rows are null (R's NA).",
      "predictions: newdata rows, predict(allow.new.levels = TRUE) (unseen levels contribute 0) and predict(re.form = NA) (fixed part only).",
      "icc_profile: units are ICC (a proportion); llf are log-likelihoods (REML log-likelihood for criterion REML).",
      "null = R's NA (not available / not applicable)."
    ))
  ),
  satterthwaite = satt,
  profile_ci = prof,
  wald_ci = wald,
  predictions = preds,
  icc_profile = icc_out
)

write_reference(out, out_file)
cat("wrote", out_file, "\n")
