## Helpers shared by the reference scripts. Each script sources this file from the
## repository root: source(file.path("tests", "reference", "common.R")).

## lme4 with tight tolerances (its defaults stop ~1e-5 from the optimum); the scripts fit
## with both optimisers and keep the lower criterion.
lmer_tight_controls <- function() list(
  bobyqa = lmerControl(optimizer = "bobyqa",
                       optCtrl = list(rhobeg = 2e-4, rhoend = 2e-10, maxfun = 1e5)),
  nloptwrap = lmerControl(optimizer = "nloptwrap",
                          optCtrl = list(xtol_abs = 1e-12, ftol_abs = 1e-14,
                                         maxeval = 1e5))
)

## Conditional SDs of ranef(m, condVar = TRUE)[[g]] as a units x terms matrix.
condsd_matrix <- function(re) {
  pv <- attr(re, "postVar")
  blocks <- if (is.list(pv)) pv else list(pv)
  cols <- lapply(blocks, function(a) {
    k <- dim(a)[1]
    sapply(seq_len(k), function(j) sqrt(a[j, j, ]))
  })
  out <- do.call(cbind, lapply(cols, function(x) matrix(x, nrow = nrow(re))))
  stopifnot(ncol(out) == ncol(re))
  out
}

## Rows of as.data.frame(VarCorr(m)) as JSON-ready lists.
varcorr_rows <- function(m) {
  vc <- as.data.frame(VarCorr(m))
  lapply(seq_len(nrow(vc)), function(i) list(
    grp = vc$grp[i],
    var1 = if (is.na(vc$var1[i])) NA else vc$var1[i],
    var2 = if (is.na(vc$var2[i])) NA else vc$var2[i],
    vcov = vc$vcov[i],
    sdcor = vc$sdcor[i]))
}

## Conditional modes and SDs per grouping factor.
ranef_blocks <- function(m) {
  re <- ranef(m, condVar = TRUE)
  out <- list()
  for (g in names(re)) {
    r <- re[[g]]
    out[[g]] <- list(
      levels = I(as.character(rownames(r))),
      terms = I(colnames(r)),
      values = unname(as.matrix(r)),
      condsd = unname(condsd_matrix(r)))
  }
  out
}

## JSON at full precision.
write_reference <- function(out, file)
  jsonlite::write_json(out, file, auto_unbox = TRUE, digits = NA, pretty = TRUE,
                       na = "null")

## A case's data: a bundled data set (``data`` its name, the CSV in ``classic_dir``) or a
## simulated CSV in ``sim_dir`` (``data`` its path); both directories are set by the
## calling script.
classic <- function(name, file, factors)
  list(data = name, path = file.path(classic_dir, file), factors = factors)
simulated <- function(file, factors)
  list(data = file.path(sim_dir, file), path = file.path(sim_dir, file),
       factors = factors)

## Whitespace runs folded to one space.
squish <- function(x) gsub("\\s+", " ", trimws(x))

## Evaluate expr, collecting its warnings and messages ("warning: ...", "message: ...",
## whitespace folded) and its console output instead of printing them. errors = TRUE
## records an error as "error: ..." (value NULL) instead of stopping.
quietly <- function(expr, errors = FALSE) {
  msgs <- character(0)
  value <- NULL
  console <- capture.output(
    value <- withCallingHandlers(
      if (errors) tryCatch(expr, error = function(e) {
        msgs <<- c(msgs, paste("error:", squish(conditionMessage(e))))
        NULL
      }) else expr,
      warning = function(w) {
        msgs <<- c(msgs, paste("warning:", squish(conditionMessage(w))))
        invokeRestart("muffleWarning")
      },
      message = function(mm) {
        msgs <<- c(msgs, paste("message:", squish(conditionMessage(mm))))
        invokeRestart("muffleMessage")
      }))
  list(value = value, msgs = msgs, console = console)
}

## R's and the packages' versions, as meta entries "<package>_version".
package_versions <- function(packages)
  c(list(r_version = R.version.string),
    setNames(lapply(packages, function(p) as.character(packageVersion(p))),
             paste0(packages, "_version")))

## A varFunc's parameters in mixedext's names: power / power[A], expon, const[A], and
## sd_ratio[level] (the reference level included with all = TRUE); varComb: its
## components in order.
vf_params <- function(vf, all = TRUE) {
  cls <- class(vf)[1]
  if (cls == "varComb")
    return(do.call(c, unname(lapply(vf, vf_params, all = all))))
  p <- coef(vf, unconstrained = FALSE, allCoef = all && cls == "varIdent")
  nm <- names(p)
  nm <- switch(cls,
    varIdent = paste0("sd_ratio[", nm, "]"),
    varPower = if (identical(nm, "power")) nm else paste0("power[", nm, "]"),
    varExp = if (identical(nm, "expon")) nm else paste0("expon[", nm, "]"),
    varConstPower = sub("^(const|power)\\.(.*)$", "\\1[\\2]", nm),
    stop("unknown varFunc ", cls))
  setNames(unname(p), nm)
}

## intervals(fit, which = "var-cov") as rows (param, lower, est, upper): the corStruct
## and varStruct rows (nlme's names) and sigma; NA where nlme cannot compute them.
ci_rows <- function(m) {
  iv <- tryCatch(intervals(m, which = "var-cov"), error = function(e) NULL)
  if (is.null(iv)) return(NA)
  rows <- list()
  add <- function(name, v) rows[[length(rows) + 1]] <<-
    list(param = name, lower = unname(v[1]), est = unname(v[2]), upper = unname(v[3]))
  for (part in c("corStruct", "varStruct")) if (!is.null(iv[[part]])) {
    a <- iv[[part]]
    for (i in seq_len(nrow(a))) add(rownames(a)[i], a[i, ])
  }
  add("sigma", iv$sigma)
  rows
}
