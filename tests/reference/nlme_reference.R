## nlme reference fits for mixedext's residual covariance structures
## (cov_struct = "ar1" / "exchangeable" / "unstructured", het_var = ...).
##
## Run from the repository root, after export_datasets.R and make_cov_data.py:
##     python tests/reference/make_cov_data.py
##     Rscript tests/reference/nlme_reference.R
## Writes tests/reference/nlme_reference.json.
##
## Every case is fitted with method = "REML" and method = "ML", each with nlme's two
## optimizers (opt = "nlminb", the default, and opt = "optim", i.e. BFGS) under the same
## tight controls, from nlme's default start; the higher log-likelihood wins (both are
## stored). Then both optimizers are restarted from the winner's estimates (correlation,
## varIdent and random-effect parameters passed as initial values, niterEM = 0), and again
## from any restart that gains more than 1e-11 (at most 5 rounds); the fit with the highest
## log-likelihood of all is stored ("stored_fit").
##
## Independent check ("independent_check"): the profiled ML / REML log-likelihood written
## out in plain R (V_i = S_i C_i S_i + gamma 11' per unit, beta and sigma^2 profiled out) is
## evaluated at the stored estimates (it must reproduce nlme's logLik) and maximised from
## there with three other optimizers, giving the distance of nlme's estimates from the
## optimum.
##
## The number of iterations is not kept in nlme's fit objects: the script traces
## nlminb() / optim() as nlme calls them and stores what they return (iterations,
## evaluations, convergence code, message).

suppressPackageStartupMessages({
  library(nlme)
  library(jsonlite)
})

source(file.path("tests", "reference", "common.R"))

classic_dir <- file.path("mixedext", "datasets", "data")
sim_dir <- file.path("tests", "reference", "data")
out_file <- file.path("tests", "reference", "nlme_reference.json")

## ---------------------------------------------------------------------------------
## Ovary with a visit column: data/ovary_visits.csv is written by make_cov_data.py from
## the package CSV; check it against nlme's own Ovary (same rows, same order within Mare,
## visit = position within Mare, which is what corAR1() uses without a covariate).
ov_csv <- read.csv(file.path(sim_dir, "ovary_visits.csv"), stringsAsFactors = FALSE)
ov_nlme <- as.data.frame(nlme::Ovary)
ov_nlme <- ov_nlme[order(as.integer(as.character(ov_nlme$Mare)), seq_len(nrow(ov_nlme))), ]
stopifnot(nrow(ov_csv) == nrow(ov_nlme),
          all(ov_csv$Mare == as.integer(as.character(ov_nlme$Mare))),
          max(abs(ov_csv$Time - ov_nlme$Time)) < 1e-6,
          all(ov_csv$follicles == ov_nlme$follicles),
          all(ov_csv$visit == ave(seq_len(nrow(ov_csv)), ov_csv$Mare, FUN = seq_along)))

## ---------------------------------------------------------------------------------
## Controls
lme_ctrl <- function(opt, niterEM = 100)
  lmeControl(msMaxIter = 500, maxIter = 500, tolerance = 1e-10, msTol = 1e-12,
             niterEM = niterEM, opt = opt)
gls_ctrl <- function(opt)
  glsControl(tolerance = 1e-10, msTol = 1e-12, msMaxIter = 500, maxIter = 500, opt = opt)
optimizers <- c("nlminb", "optim")

## ---------------------------------------------------------------------------------
## Cases. `unit` is the grouping of the residual correlation; `time` the column whose
## distinct values index the residual covariance matrix (the corStruct's position).
sim <- function(file) file.path(sim_dir, file)
cases <- list(
  ar1_ri = list(fun = "lme", fixed = "y ~ t + trt + x", random = "~ 1 | subject",
                correlation = "corAR1(form = ~ t | subject)", weights = NULL,
                data = sim("panel_ar1.csv"), factors = "subject",
                unit = "subject", time = "t"),
  ar1_gls = list(fun = "gls", fixed = "y ~ t + trt + x", random = NULL,
                 correlation = "corAR1(form = ~ t | subject)", weights = NULL,
                 data = sim("panel_ar1.csv"), factors = "subject",
                 unit = "subject", time = "t"),
  ovary_ar1 = list(fun = "lme", fixed = "follicles ~ sin(2*pi*Time) + cos(2*pi*Time)",
                   random = "~ 1 | Mare", correlation = "corAR1(form = ~ visit | Mare)",
                   weights = NULL, data = sim("ovary_visits.csv"), factors = "Mare",
                   unit = "Mare", time = "visit"),
  car1_ri = list(fun = "lme", fixed = "y ~ time", random = "~ 1 | subject",
                 correlation = "corCAR1(form = ~ time | subject)", weights = NULL,
                 data = sim("panel_car1.csv"), factors = "subject",
                 unit = "subject", time = "time"),
  un_gls = list(fun = "gls", fixed = "y ~ t + grp", random = NULL,
                correlation = "corSymm(form = ~ t | subject)",
                weights = "varIdent(form = ~ 1 | t)",
                data = sim("panel_un.csv"), factors = "subject",
                unit = "subject", time = "t", varident_col = "t"),
  cs_gls = list(fun = "gls", fixed = "y ~ t", random = NULL,
                correlation = "corCompSymm(form = ~ 1 | subject)", weights = NULL,
                data = sim("panel_cs.csv"), factors = "subject",
                unit = "subject", time = "t"),
  varident_ri = list(fun = "lme", fixed = "y ~ x", random = "~ 1 | cluster",
                     correlation = NULL, weights = "varIdent(form = ~ 1 | site)",
                     data = sim("hetvar.csv"), factors = "cluster",
                     unit = NULL, time = NULL, varident_col = "site"),
  varident_gls = list(fun = "gls", fixed = "y ~ x", random = NULL,
                      correlation = NULL, weights = "varIdent(form = ~ 1 | site)",
                      data = sim("hetvar.csv"), factors = NULL,
                      unit = NULL, time = NULL, varident_col = "site"),
  orthodont_un = list(fun = "gls", fixed = "distance ~ age + Sex", random = NULL,
                      correlation = "corSymm(form = ~ 1 | Subject)",
                      weights = "varIdent(form = ~ 1 | age)",
                      data = file.path(classic_dir, "orthodont.csv"),
                      factors = c("Subject", "Sex"),
                      unit = "Subject", time = "age", varident_col = "age")
)

## simulation truth, for the sanity checks printed (and stored) below
truth <- list(
  ar1_ri = list(cor = 0.6, sigma = 1.2, re_sd = 1.0),
  ## misspecified on purpose (no random intercept): Phi1 absorbs the subject effect, so
  ## there is no simulated value for it; sigma is the marginal sd sqrt(1.2^2 + 1^2)
  ar1_gls = list(sigma = sqrt(1.2^2 + 1.0^2)),
  car1_ri = list(cor = 0.7, sigma = 1.0, re_sd = 0.8),
  un_gls = list(cor = c(.6, .4, .3, .6, .45, .65), sigma = 1.0,
                varident = list(`1` = 1, `2` = 1.3, `3` = 1.6, `4` = 2.0)),
  cs_gls = list(cor = 0.4, sigma = 1.5),
  varident_ri = list(sigma = 1.0, re_sd = 0.7, varident = list(A = 1, B = 2, C = 0.5))
  ## varident_gls is misspecified (ignores the cluster intercept): no truth
)

## nlme's approximate 95% intervals (intervals(which = "var-cov")) as rows
## {param, lower, est, upper}: correlation parameters, varIdent ratios, sigma, re_sd
ci_rows <- function(m) {
  iv <- tryCatch(intervals(m, which = "var-cov"), error = function(e) NULL)
  if (is.null(iv)) return(NA)
  rows <- list()
  add <- function(name, v) rows[[length(rows) + 1]] <<-
    list(param = name, lower = unname(v[1]), est = unname(v[2]), upper = unname(v[3]))
  if (!is.null(iv$reStruct)) {
    r <- iv$reStruct[[1]]
    add("re_sd", as.numeric(r[1, ]))
  }
  for (part in c("corStruct", "varStruct")) if (!is.null(iv[[part]])) {
    a <- iv[[part]]
    for (i in seq_len(nrow(a))) add(rownames(a)[i], a[i, ])
  }
  add("sigma", iv$sigma)
  rows
}

read_case_data <- function(cs) {
  d <- read.csv(cs$data, stringsAsFactors = FALSE)
  for (f in cs$factors) d[[f]] <- factor(d[[f]])
  d
}

call_text <- function(cs, method, ctrl_name = "ctrl") {
  args <- c(cs$fixed,
            if (!is.null(cs$random)) paste("random =", cs$random),
            if (!is.null(cs$correlation)) paste("correlation =", cs$correlation),
            if (!is.null(cs$weights)) paste("weights =", cs$weights),
            "data = d", sprintf("method = \"%s\"", method),
            paste("control =", ctrl_name))
  sprintf("%s(%s)", cs$fun, paste(args, collapse = ", "))
}

## ---------------------------------------------------------------------------------
## Trace the optimizers nlme calls, to record iterations / convergence codes.
.optlog <- list()
rec <- quote(.optlog[[length(.optlog) + 1L]] <<- returnValue())
invisible(capture.output({
  trace("nlminb", exit = rec, print = FALSE, where = asNamespace("nlme"))
  trace("optim", exit = rec, print = FALSE, where = asNamespace("nlme"))
}))

opt_summary <- function(r) {
  if (is.null(r)) return(NULL)
  if (!is.null(r$iterations)) {   # nlminb
    list(optimizer = "nlminb", convergence = r$convergence, iterations = r$iterations,
         evaluations = as.list(r$evaluations), message = r$message,
         objective = r$objective)
  } else {                        # optim
    list(optimizer = "optim", convergence = r$convergence, iterations = NA,
         evaluations = as.list(r$counts),
         message = if (is.null(r$message)) NA else r$message, objective = r$value)
  }
}

## fit one model from a call text, collecting warnings, errors and the optimizer calls
fit_quiet <- function(text, d, ctrl) {
  msgs <- character(0)
  .optlog <<- list()
  env <- new.env(parent = globalenv())
  env$d <- d
  env$ctrl <- ctrl
  m <- tryCatch(
    withCallingHandlers(eval(parse(text = text), envir = env),
      warning = function(w) {
        msgs <<- c(msgs, paste("warning:", conditionMessage(w)))
        invokeRestart("muffleWarning")
      }),
    error = function(e) {
      msgs <<- c(msgs, paste("error:", conditionMessage(e)))
      NULL
    })
  opt_calls <- lapply(.optlog, opt_summary)
  list(model = m, msgs = msgs, opt_calls = opt_calls,
       llf = if (is.null(m)) NA else as.numeric(logLik(m)))
}

## ---------------------------------------------------------------------------------
## Helpers on a fitted model
cor_struct <- function(m) m$modelStruct$corStruct
var_struct <- function(m) m$modelStruct$varStruct

cor_params <- function(m) {
  cs <- cor_struct(m)
  if (is.null(cs)) return(NULL)
  p <- coef(cs, unconstrained = FALSE)
  if (is.null(names(p)) && inherits(cs, "corSymm")) {
    ## unnamed: the lower triangle by columns, pairs of positions (1,2), (1,3), ...
    P <- round((1 + sqrt(1 + 8 * length(p))) / 2)
    ij <- which(lower.tri(diag(P)), arr.ind = TRUE)
    names(p) <- sprintf("cor(%d,%d)", ij[, "col"], ij[, "row"])
  }
  p
}

varident_ratios <- function(m) {
  vs <- var_struct(m)
  if (is.null(vs)) return(NULL)
  coef(vs, unconstrained = FALSE, allCoef = TRUE)
}

## restart text: the same model with the estimates as initial values
restart_text <- function(cs, m, method) {
  args <- cs$fixed
  if (!is.null(cs$random)) {
    grp <- trimws(sub(".*\\|", "", cs$random))
    D <- as.matrix(m$modelStruct$reStruct[[1]])   # relative to sigma^2
    args <- c(args, sprintf("random = list(%s = pdLogChol(matrix(%s, 1, 1, dimnames = list(\"(Intercept)\", \"(Intercept)\")), form = ~ 1))",
                            grp, format(D[1, 1], digits = 17)))
  }
  if (!is.null(cs$correlation)) {
    ctor <- sub("\\(.*", "", cs$correlation)
    val <- paste(format(unname(cor_params(m)), digits = 17), collapse = ", ")
    args <- c(args, paste0("correlation = ", ctor, "(value = c(", val, "), ",
                           sub("^[^(]*\\(", "", cs$correlation)))
  }
  if (!is.null(cs$weights)) {
    r <- varident_ratios(m)[-1]
    val <- paste(sprintf("`%s` = %s", names(r), format(unname(r), digits = 17)),
                 collapse = ", ")
    args <- c(args, paste0("weights = varIdent(value = c(", val, "), ",
                           sub("^[^(]*\\(", "", cs$weights)))
  }
  args <- c(args, "data = d", sprintf("method = \"%s\"", method), "control = ctrl")
  sprintf("%s(%s)", cs$fun, paste(args, collapse = ", "))
}

## the residual covariance of one unit, rows/cols ordered by time: nlme's getVarCov
## (lme: type = "conditional") reordered, and the same matrix rebuilt from the
## parameters (as a check that the ordering is right)
residual_cov <- function(cs, m, d) {
  if (is.null(cs$unit)) return(NULL)
  u <- d[[cs$unit]]
  sizes <- table(u)
  unit <- names(sizes)[which.max(sizes)]   # first unit (level order) with most rows
  rows <- which(as.character(u) == unit)   # nlme's within-group order = data order
  times <- d[[cs$time]][rows]
  o <- order(times)
  if (cs$fun == "lme") {
    V <- getVarCov(m, individuals = unit, type = "conditional")[[1]]
    Vm <- getVarCov(m, individuals = unit, type = "marginal")[[1]]
  } else {
    V <- getVarCov(m, individual = unit)
    Vm <- NULL
  }
  V <- unname(as.matrix(V))[o, o]
  if (!is.null(Vm)) Vm <- unname(as.matrix(Vm))[o, o]
  ts <- times[o]
  ## rebuild from the parameters
  p <- unname(cor_params(m))
  cls <- class(cor_struct(m))[1]
  k <- length(ts)
  if (cls %in% c("corAR1", "corARMA", "corCAR1")) {
    C <- p[1]^abs(outer(ts, ts, "-"))
  } else if (cls == "corCompSymm") {
    C <- matrix(p[1], k, k); diag(C) <- 1
  } else if (cls == "corSymm") {
    pos <- if (grepl("~ *1 *\\|", cs$correlation)) seq_len(k) else ts
    P <- max(pos)
    full <- diag(P)
    full[lower.tri(full)] <- p
    full[upper.tri(full)] <- t(full)[upper.tri(full)]
    C <- full[pos, pos]
  } else stop("unknown corStruct ", cls)
  s <- rep(1, k)
  if (!is.null(cs$weights)) {
    r <- varident_ratios(m)
    s <- r[as.character(d[[cs$varident_col]][rows][o])]
  }
  R <- m$sigma^2 * outer(s, s) * C
  list(unit = unit, times = ts, matrix = V,
       marginal_matrix = Vm,
       check_max_abs_diff = max(abs(R - V)))
}

num_or_na <- function(x) if (is.null(x)) NA else x

extract <- function(cs, m, d) {
  fe <- if (cs$fun == "lme") fixef(m) else coef(m)
  V <- as.matrix(vcov(m))
  cp <- cor_params(m)
  vr <- varident_ratios(m)
  out <- list(
    nobs = nobs(m),
    logLik = as.numeric(logLik(m)),
    AIC = AIC(m),
    BIC = BIC(m),
    fixef_names = I(names(fe)),
    fixef = as.list(fe),
    fixef_se = as.list(setNames(sqrt(diag(V)), names(fe))),
    vcov = unname(V),
    sigma = m$sigma,
    cor_struct = if (is.null(cor_struct(m))) NA else class(cor_struct(m))[1],
    cor_param_names = if (is.null(cp)) NA else I(names(cp)),
    cor_params = if (is.null(cp)) NA else I(unname(cp)),
    varident_levels = if (is.null(vr)) NA else I(names(vr)),
    varident_ratios = if (is.null(vr)) NA else I(unname(vr)),
    varident_reference = if (is.null(vr)) NA else names(vr)[1],
    residual_sd_by_level = if (is.null(vr)) NA else as.list(m$sigma * vr)
  )
  if (cs$fun == "lme") {
    vc <- VarCorr(m)
    D <- unname(as.matrix(getVarCov(m, type = "random.effects")))
    out$n_groups <- unname(m$dims$ngrps[1])
    out$re_sd <- sqrt(D[1, 1])
    out$re_var <- D[1, 1]
    out$re_sd_varcorr <- as.numeric(vc[1, "StdDev"])
  } else {
    out$n_groups <- if (is.null(m$groups)) NA else nlevels(factor(m$groups))
    out$re_sd <- NA
    out$re_var <- NA
    out$re_sd_varcorr <- NA
  }
  rc <- residual_cov(cs, m, d)
  out$residual_cov <- if (is.null(rc)) NA else rc
  out
}

## ---------------------------------------------------------------------------------
## ---------------------------------------------------------------------------------
## Independent check: the profiled (ML / REML) log-likelihood written out directly
## (V_i = S_i C_i S_i + gamma 11', sigma^2 and beta profiled out), evaluated at nlme's
## estimates (must equal nlme's logLik) and maximised from them (nlminb rel.tol 1e-15, then optim BFGS and Nelder-Mead, each from
## the best point so far) ("polished" optimum), to measure how far nlme's stopping point is from the optimum.
own_setup <- function(cs, m, d) {
  X <- model.matrix(as.formula(cs$fixed), d)
  y <- d[[all.vars(as.formula(cs$fixed))[1]]]
  grp_col <- if (!is.null(cs$unit)) cs$unit else if (!is.null(cs$random))
    trimws(sub(".*\\|", "", cs$random)) else NULL
  unit <- if (is.null(grp_col)) seq_len(nrow(d)) else as.character(d[[grp_col]])
  cls <- if (is.null(cor_struct(m))) "none" else class(cor_struct(m))[1]
  rows_by_unit <- split(seq_len(nrow(d)), factor(unit, levels = unique(unit)))
  pos <- rep(1, nrow(d))
  if (cls != "none") {
    if (grepl("~ *1 *\\|", cs$correlation)) {
      for (r in rows_by_unit) pos[r] <- seq_along(r)   # within-unit data order
    } else pos <- d[[cs$time]]
  }
  lev <- if (!is.null(cs$varident_col)) as.character(d[[cs$varident_col]]) else rep("1", nrow(d))
  key <- sapply(rows_by_unit, function(r) paste(pos[r], lev[r], collapse = ";"))
  patterns <- lapply(split(rows_by_unit, key), function(lst)
    list(rows = do.call(cbind, lst), pos = pos[lst[[1]]], lev = lev[lst[[1]]]))
  list(X = X, y = y, patterns = patterns, cls = cls, re = !is.null(cs$random),
       vlev = if (is.null(var_struct(m))) NULL else names(varident_ratios(m)))
}

own_cor <- function(cls, cp, pos) {
  k <- length(pos)
  if (cls == "none") return(diag(k))
  if (cls %in% c("corAR1", "corARMA", "corCAR1")) return(cp[1]^abs(outer(pos, pos, "-")))
  if (cls == "corCompSymm") { C <- matrix(cp[1], k, k); diag(C) <- 1; return(C) }
  P <- round((1 + sqrt(1 + 8 * length(cp))) / 2)
  full <- diag(P); full[lower.tri(full)] <- cp
  full[upper.tri(full)] <- t(full)[upper.tri(full)]
  full[pos, pos, drop = FALSE]
}

## par = list(cor = natural correlation parameters, ratios = named SD ratios, gamma = D / sigma^2)
own_fit <- function(st, par, method) {
  p <- ncol(st$X); N <- nrow(st$X)
  Xw <- list(); yw <- list(); logdet <- 0
  for (pt in st$patterns) {
    C <- own_cor(st$cls, par$cor, pt$pos)
    s <- if (is.null(par$ratios)) rep(1, length(pt$pos)) else par$ratios[pt$lev]
    V <- outer(s, s) * C + (if (st$re) par$gamma else 0)
    U <- tryCatch(chol(V), error = function(e) NULL)
    if (is.null(U)) return(list(llf = -Inf))
    k <- ncol(pt$rows)
    logdet <- logdet + k * 2 * sum(log(diag(U)))
    idx <- as.vector(pt$rows)          # unit by unit, each in its m rows
    m <- nrow(pt$rows)
    Xb <- array(st$X[idx, ], c(m, k, p))
    Xs <- forwardsolve(t(U), matrix(Xb, m))
    Xw[[length(Xw) + 1]] <- matrix(aperm(array(Xs, c(m, k, p)), c(1, 2, 3)), m * k, p)
    yw[[length(yw) + 1]] <- as.vector(forwardsolve(t(U), matrix(st$y[idx], m)))
  }
  Xw <- do.call(rbind, Xw); yw <- unlist(yw)
  qx <- qr(Xw)
  beta <- qr.coef(qx, yw)
  rss <- sum(qr.resid(qx, yw)^2)
  if (method == "ML") {
    s2 <- rss / N
    llf <- -0.5 * (N * (log(2 * pi * s2) + 1) + logdet)
  } else {
    s2 <- rss / (N - p)
    ldx <- 2 * sum(log(abs(diag(qr.R(qx)))))
    ## nlme's REML log-likelihood (includes + p/2 log(2 pi)... see the check against logLik)
    llf <- -0.5 * ((N - p) * (log(2 * pi * s2) + 1) + logdet + ldx)
  }
  list(llf = llf, beta = setNames(beta, colnames(st$X)), sigma = sqrt(s2),
       re_sd = if (st$re) sqrt(par$gamma * s2) else NULL)
}

own_check <- function(cs, m, d, method) {
  st <- own_setup(cs, m, d)
  cp0 <- unname(cor_params(m)); r0 <- varident_ratios(m)
  g0 <- if (st$re) as.matrix(m$modelStruct$reStruct[[1]])[1, 1] else NULL   # D / sigma^2
  par0 <- list(cor = cp0, ratios = r0, gamma = g0)
  at_nlme <- own_fit(st, par0, method)
  ## unconstrained vector: cor params (natural, bounded), log ratios (non-reference), log gamma
  nc <- length(cp0); nr <- if (is.null(r0)) 0 else length(r0) - 1
  unpack <- function(v) list(
    cor = v[seq_len(nc)],
    ratios = if (nr) setNames(c(1, exp(v[nc + seq_len(nr)])), names(r0)) else NULL,
    gamma = if (st$re) exp(v[nc + nr + 1]) else NULL)
  v0 <- c(cp0, if (nr) log(unname(r0[-1])), if (st$re) log(g0))
  lo <- c(rep(if (st$cls == "corCAR1") 0 else -1 + 1e-10, nc), rep(-Inf, length(v0) - nc))
  hi <- c(rep(1 - 1e-10, nc), rep(Inf, length(v0) - nc))
  obj <- function(v) { f <- own_fit(st, unpack(v), method)$llf; if (is.finite(f)) -f else 1e300 }
  ## three polishers in turn, each from the best point so far
  best_v <- v0; best_f <- obj(v0); used <- "none (nlme's estimates are the best point found)"
  o1 <- nlminb(best_v, obj, lower = lo, upper = hi,
               control = list(rel.tol = 1e-15, x.tol = 1e-12, eval.max = 5000, iter.max = 2000))
  if (o1$objective < best_f) { best_v <- o1$par; best_f <- o1$objective; used <- "nlminb" }
  o2 <- optim(best_v, obj, method = "BFGS",
              control = list(reltol = 1e-15, ndeps = rep(1e-6, length(v0)), maxit = 1000))
  if (o2$value < best_f) { best_v <- o2$par; best_f <- o2$value; used <- "optim BFGS" }
  if (length(v0) > 1) {   # (Nelder-Mead is unreliable in 1-D; BFGS suffices there)
    o3 <- optim(best_v, obj, method = "Nelder-Mead", control = list(reltol = 1e-16, maxit = 20000))
    if (o3$value < best_f) { best_v <- o3$par; best_f <- o3$value; used <- "Nelder-Mead" }
  }
  pol_par <- unpack(best_v)
  pol <- own_fit(st, pol_par, method)
  pv_nlme <- param_vector(cs, m)
  pv_pol <- c(pol$beta, sigma = pol$sigma, setNames(pol_par$cor, names(cor_params(m))),
              pol_par$ratios, re_sd = pol$re_sd)
  stopifnot(identical(names(pv_pol), names(pv_nlme)))
  rel <- abs(pv_nlme - pv_pol) / pmax(abs(pv_pol), 1e-8)
  list(own_logLik_at_nlme_estimates = at_nlme$llf,
       own_minus_nlme_logLik = at_nlme$llf - as.numeric(logLik(m)),
       own_sigma_minus_nlme = at_nlme$sigma - m$sigma,
       polished_logLik = pol$llf,
       polished_gain = pol$llf - at_nlme$llf,
       polished_params = as.list(pv_pol),
       nlme_vs_polished_max_rel_diff = max(rel),
       nlme_vs_polished_worst_param = names(which.max(rel)),
       polisher = used)
}

## all estimated quantities of a fit, for comparing fits
param_vector <- function(cs, m) {
  fe <- if (cs$fun == "lme") fixef(m) else coef(m)
  c(fe, sigma = m$sigma, cor_params(m), varident_ratios(m),
    re_sd = if (cs$fun == "lme") sqrt(getVarCov(m, type = "random.effects")[1, 1]) else NULL)
}
max_rel_diff <- function(a, b) max(abs(a - b) / pmax(abs(b), 1e-8))

fit_summary <- function(f, label) {
  last <- if (length(f$opt_calls)) f$opt_calls[[length(f$opt_calls)]] else NULL
  list(fit = label, logLik = num_or_na(f$llf), messages = I(f$msgs),
       optimizer_calls = f$opt_calls,
       converged = !is.null(f$model) && length(f$msgs) == 0 && !is.null(last) &&
         last$convergence == 0)
}

results <- list()
for (cname in names(cases)) {
  cs <- cases[[cname]]
  d <- read_case_data(cs)
  ctrl_of <- function(opt, niterEM = 100)
    if (cs$fun == "lme") lme_ctrl(opt, niterEM) else gls_ctrl(opt)
  for (method in c("REML", "ML")) {
    text <- call_text(cs, method)
    entry <- list(case = cname, method = method, fun = cs$fun, formula = cs$fixed,
                  random = num_or_na(cs$random), correlation = num_or_na(cs$correlation),
                  weights = num_or_na(cs$weights), call = text, data_file = cs$data)
    ## 1. both optimizers from nlme's default start
    fits <- lapply(optimizers, function(o) fit_quiet(text, d, ctrl_of(o)))
    names(fits) <- optimizers
    llfs <- sapply(fits, `[[`, "llf")
    ok <- !is.na(llfs)
    attempts <- lapply(optimizers, function(o) fit_summary(fits[[o]], paste("default start,", o)))
    names(attempts) <- NULL
    if (!any(ok)) {
      entry <- c(entry, list(converged = FALSE, optimizer = NA, attempts = attempts,
                             failure = paste(unlist(lapply(fits, `[[`, "msgs")),
                                             collapse = " | ")))
      cat(sprintf("%-13s %-4s FAILED: %s\n", cname, method, entry$failure))
      results[[length(results) + 1]] <- entry
      next
    }
    best_name <- optimizers[ok][which.max(llfs[ok])]
    first <- fits[[best_name]]
    first_sum <- attempts[[which(optimizers == best_name)]]
    ## 2. restarts with both optimizers from the best estimates so far, until no gain
    stored <- first
    stored_label <- paste("default start,", best_name)
    all_fits <- list(list(label = stored_label, fit = first))
    for (o in setdiff(optimizers, best_name)) if (ok[o])
      all_fits[[length(all_fits) + 1]] <- list(label = paste("default start,", o), fit = fits[[o]])
    restarts <- list()
    for (round in 1:5) {
      rtext <- restart_text(cs, stored$model, method)
      rf <- lapply(optimizers, function(o) fit_quiet(rtext, d, ctrl_of(o, niterEM = 0)))
      names(rf) <- optimizers
      improved <- FALSE
      prev <- stored
      for (o in optimizers) {
        lab <- sprintf("restart %d, %s", round, o)
        restarts[[length(restarts) + 1]] <- c(fit_summary(rf[[o]], lab),
                                              list(call = rtext))
        if (!is.na(rf[[o]]$llf)) {
          all_fits[[length(all_fits) + 1]] <- list(label = lab, fit = rf[[o]])
          if (rf[[o]]$llf > stored$llf + 1e-11) {
            stored <- rf[[o]]; stored_label <- lab; improved <- TRUE
          }
        }
      }
      if (!improved) break
    }
    m <- stored$model
    pv <- param_vector(cs, m)
    ## how far every fit within 1e-6 of the stored logLik is from the stored estimates
    near <- Filter(function(a) a$fit$llf > stored$llf - 1e-6, all_fits)
    spread <- max(sapply(near, function(a) max_rel_diff(param_vector(cs, a$fit$model), pv)))
    first_last <- first$opt_calls[[length(first$opt_calls)]]
    stored_sum <- fit_summary(stored, stored_label)
    entry <- c(entry, extract(cs, m, d), list(
      converged = first_sum$converged && stored_sum$converged,
      optimizer = best_name,
      optimizer_logliks = as.list(llfs),
      optimizer_llf_diff = if (all(ok)) abs(diff(llfs)) else NA,
      iterations = num_or_na(first_last$iterations),
      evaluations = first_last$evaluations,
      convergence_code = first_last$convergence,
      convergence_message = first_last$message,
      warnings = I(first$msgs),
      stored_fit = stored_label,
      stored_gain_over_default_start = stored$llf - first$llf,
      param_spread_near_optimum = spread,
      attempts = attempts,
      restarts = restarts))
    entry$independent_check <- own_check(cs, m, d, method)
    entry$intervals_95 <- ci_rows(m)
    tr <- truth[[cname]]
    if (!is.null(tr)) {
      entry$truth <- tr
      ## truth inside nlme's approximate 95% interval? (cor params in order, ratios by level)
      tv <- c(if (!is.null(tr$re_sd)) c(re_sd = tr$re_sd),
              if (!is.null(tr$cor)) setNames(tr$cor, names(cor_params(m))),
              if (!is.null(tr$varident)) unlist(tr$varident)[-1],
              sigma = tr$sigma)
      ins <- sapply(names(tv), function(nm) {
        hit <- Filter(function(r) r$param == nm, entry$intervals_95)
        if (!length(hit)) return(NA)
        tv[[nm]] >= hit[[1]]$lower && tv[[nm]] <= hit[[1]]$upper
      })
      entry$truth_in_ci95 <- as.list(ins)
      cat(sprintf("   truth in 95%% CI: %s\n",
                  paste(sprintf("%s=%s", names(ins), ins), collapse = " ")))
    }
    ic <- entry$independent_check
    cat(sprintf("   own-nlme llf=%.2e  own-nlme sigma=%.2e  polished gain=%.2e  max rel diff=%.2e (%s)\n",
                ic$own_minus_nlme_logLik, ic$own_sigma_minus_nlme, ic$polished_gain,
                ic$nlme_vs_polished_max_rel_diff, ic$nlme_vs_polished_worst_param))
    cat(sprintf("%-13s %-4s llf=%.8f opt=%-6s |nlminb-optim|=%.2e stored=%-18s gain=%.2e spread=%.1e conv=%s cor=%s sigma=%.5f re_sd=%s ratios=%s rcheck=%s\n",
                cname, method, entry$logLik, best_name,
                num_or_na(entry$optimizer_llf_diff), stored_label,
                entry$stored_gain_over_default_start, spread, entry$converged,
                paste(format(unlist(entry$cor_params), digits = 5), collapse = ","),
                entry$sigma, format(entry$re_sd, digits = 5),
                paste(format(unlist(entry$varident_ratios), digits = 5), collapse = ","),
                if (is.list(entry$residual_cov)) format(entry$residual_cov$check_max_abs_diff, digits = 3) else "-"))
    results[[length(results) + 1]] <- entry
  }
}

## ---------------------------------------------------------------------------------
## Ovary: the same fit on nlme's own Ovary with corAR1(form = ~ 1 | Mare) (implicit
## positions) must give the same log-likelihood as on ovary_visits.csv with ~ visit | Mare.
ov_check <- sapply(c("REML", "ML"), function(method) {
  m <- lme(follicles ~ sin(2*pi*Time) + cos(2*pi*Time), random = ~ 1 | Mare,
           correlation = corAR1(form = ~ 1 | Mare), data = nlme::Ovary, method = method,
           control = lme_ctrl("nlminb"))
  as.numeric(logLik(m))
})
for (i in seq_along(results)) {
  if (results[[i]]$case == "ovary_ar1") {
    results[[i]]$check_nlme_ovary_implicit_position_logLik <- unname(ov_check[results[[i]]$method])
    cat(sprintf("ovary check %s: |llf(csv, ~visit|Mare) - llf(nlme::Ovary, ~1|Mare)| = %.2e\n",
                results[[i]]$method,
                abs(results[[i]]$logLik - ov_check[results[[i]]$method])))
  }
}

out <- list(
  meta = list(
    r_version = R.version.string,
    nlme_version = as.character(packageVersion("nlme")),
    jsonlite_version = as.character(packageVersion("jsonlite")),
    date = format(Sys.time(), "%Y-%m-%d"),
    script = "tests/reference/nlme_reference.R",
    controls = list(
      lme = "lmeControl(msMaxIter = 500, maxIter = 500, tolerance = 1e-10, msTol = 1e-12, niterEM = 100, opt = <optimizer>)",
      gls = "glsControl(tolerance = 1e-10, msTol = 1e-12, msMaxIter = 500, maxIter = 500, opt = <optimizer>)",
      optimizers = I(optimizers),
      restart = "both optimizers, same controls (lme: niterEM = 0), started at the best estimates so far; repeated while a restart gains > 1e-11 (max 5 rounds)"
    ),
    notes = I(c(
      "logLik is the REML log-likelihood under method = 'REML' (nlme's convention); AIC/BIC are REML-based then.",
      "optimizer: the one of nlminb / optim (BFGS) reaching the higher logLik from nlme's default start; both in optimizer_logliks (null = the fit failed), details in attempts.",
      "stored_fit: the fit whose estimates are reported (the best of the default-start fits and the restarts, see restarts); stored_gain_over_default_start = its logLik minus that of 'optimizer' from the default start. param_spread_near_optimum: max relative difference of any fit within 1e-6 of the stored logLik from the stored estimates (fixef, sigma, correlation parameters, varIdent ratios, re_sd).",
      "iterations / evaluations / convergence_code / convergence_message / warnings: what nlminb() or optim() returned (and any warning) in the default-start fit of 'optimizer' (optim has no iteration count: null, see evaluations). Every fit's own record is in attempts / restarts.",
      "converged: both that default-start fit and the stored fit ended without warning or error and with optimizer convergence code 0.",
      "independent_check: own_minus_nlme_logLik = plain-R profiled log-likelihood at the stored estimates minus nlme's logLik; polished_gain / polished_params / nlme_vs_polished_max_rel_diff: after maximising that function further from the stored estimates (nlminb, optim BFGS, Nelder-Mead).",
      "intervals_95: nlme's approximate 95% intervals, intervals(fit, which = 'var-cov'). truth / truth_in_ci95: the simulation's values (simulated cases with a correctly specified model only) and whether each lies in that interval.",
      "cor_params: coef(corStruct, unconstrained = FALSE). corAR1 with gaps or unsorted rows is turned by nlme into corARMA(p = 1), whose parameter is named Phi1 (= rho). corSymm: the correlations (1,2), (1,3), ..., (2,3), ... (lower triangle by columns) over the positions (t for form ~ t | subject; the within-subject order for ~ 1 | Subject).",
      "varident_ratios: coef(varStruct, unconstrained = FALSE, allCoef = TRUE), SD ratios to varident_reference (nlme's reference is the first level met in its internally group-sorted data); residual_sd_by_level = sigma * ratio does not depend on the reference.",
      "re_sd / re_var: the random-intercept SD / variance at full precision, sqrt(getVarCov(fit, type = 'random.effects')[1, 1]) (lme only). re_sd_varcorr = as.numeric(VarCorr(fit)[1, 'StdDev']) is the same number as printed by VarCorr, rounded to 7 significant digits: do not test against it.",
      "residual_cov: within-unit residual covariance R for the first unit (factor-level order) with the most rows, rows/cols in increasing 'times' (the correlation's position/time covariate): getVarCov(fit, type = 'conditional') for lme (marginal_matrix = getVarCov(type = 'marginal') = R + Z D Z'), getVarCov(fit) for gls; check_max_abs_diff compares it with sigma^2 * S C S rebuilt from cor_params and varident_ratios. NA for the varIdent-only cases (diagonal; use residual_sd_by_level).",
      "Grouping columns are factors with sorted levels (factor()); Orthodont's Sex has levels Female, Male, so the fixed effect is SexMale."
    ))
  ),
  cases = results
)

write_reference(out, out_file)
cat("wrote", out_file, "\n")
