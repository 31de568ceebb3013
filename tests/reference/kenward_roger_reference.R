## Kenward-Roger references where it differs clearly from Satterthwaite: unbalanced data,
## a random slope, crossed factors, a singular fit. (inference_reference.R holds KR for its four cases.)
##
## Run from the repository root:
##     Rscript tests/reference/kenward_roger_reference.R
## Writes tests/reference/kenward_roger_reference.json.
##
## Fits: lme4 REML with the tight bobyqa control of common.R. Per case: lmerTest
## summary(ddf = "Kenward-Roger") coefficients, anova(type = 3, ddf = "Kenward-Roger"),
## the same with Satterthwaite (to show the difference), and pbkrtest::vcovAdj.

suppressPackageStartupMessages({
  library(lme4)
  library(lmerTest)
  library(pbkrtest)
  library(jsonlite)
})

source(file.path("tests", "reference", "common.R"))
classic_dir <- file.path("mixedext", "datasets", "data")
out_file <- file.path("tests", "reference", "kenward_roger_reference.json")

sleep <- read.csv(file.path(classic_dir, "sleepstudy.csv"))
sleep$Subject <- factor(sleep$Subject)
## unbalanced: drop every 7th row (R rows 1, 8, 15, ...) and days 7-9 of the first 5 subjects
keep <- (seq_len(nrow(sleep)) - 1) %% 7 != 0 &
  !(sleep$Subject %in% levels(sleep$Subject)[1:5] & sleep$Days >= 7)
dye2 <- read.csv(file.path(classic_dir, "dyestuff2.csv"))
dye2$Batch <- factor(dye2$Batch)
pen <- read.csv(file.path(classic_dir, "penicillin.csv"))
pen$plate <- factor(pen$plate)
pen$sample <- factor(pen$sample)
pen$x <- ((seq_len(nrow(pen)) * 37) %% 11) / 10  # a deterministic covariate

cases <- list(
  sleep_unbalanced_slope = list(formula = "Reaction ~ Days + (Days | Subject)",
                                data = sleep[keep, ], data_file = "sleepstudy",
                                rows = "(i %% 7 != 0) & !(Subject in first 5 levels & Days >= 7), i 0-based"),
  sleep_unbalanced_ri = list(formula = "Reaction ~ Days + (1 | Subject)",
                             data = sleep[keep, ], data_file = "sleepstudy",
                             rows = "as sleep_unbalanced_slope"),
  dyestuff2_singular = list(formula = "Yield ~ 1 + (1 | Batch)", data = dye2,
                            data_file = "dyestuff2", rows = "all (a singular fit)"),
  penicillin_crossed = list(formula = "diameter ~ x + (1 | plate) + (1 | sample)",
                            data = pen, data_file = "penicillin",
                            rows = "all; x = ((i * 37) %% 11) / 10, i 1-based row number")
)

coef_rows <- function(tab) lapply(seq_len(nrow(tab)), function(i) list(
  term = rownames(tab)[i], estimate = tab[i, "Estimate"], std_error = tab[i, "Std. Error"],
  df = tab[i, "df"], t_value = tab[i, "t value"], p_value = tab[i, "Pr(>|t|)"]))
anova_rows <- function(a) lapply(seq_len(nrow(a)), function(i) list(
  term = rownames(a)[i], num_df = a[i, "NumDF"], den_df = a[i, "DenDF"],
  f_value = a[i, "F value"], p_value = a[i, "Pr(>F)"]))

out <- list(meta = list(
  r_version = R.version.string,
  lme4_version = as.character(packageVersion("lme4")),
  lmerTest_version = as.character(packageVersion("lmerTest")),
  pbkrtest_version = as.character(packageVersion("pbkrtest")),
  date = as.character(Sys.Date()),
  script = "tests/reference/kenward_roger_reference.R"), cases = list())
for (name in names(cases)) {
  cs <- cases[[name]]
  m <- lmerTest::lmer(as.formula(cs$formula), data = cs$data, REML = TRUE,
                      control = lmer_tight_controls()$bobyqa)
  kr <- summary(m, ddf = "Kenward-Roger")$coefficients
  sat <- summary(m, ddf = "Satterthwaite")$coefficients
  out$cases[[length(out$cases) + 1]] <- list(
    case = name, formula = cs$formula, data = cs$data_file, rows = cs$rows,
    nobs = nrow(cs$data), llf = as.numeric(logLik(m)), fixef_names = names(fixef(m)),
    fixef = unname(fixef(m)), vcov = unname(as.matrix(vcov(m))),
    vcov_adjusted = unname(as.matrix(pbkrtest::vcovAdj(m))),
    kenward_roger = list(coefficients = coef_rows(kr),
                         anova_type3 = anova_rows(anova(m, type = 3, ddf = "Kenward-Roger"))),
    satterthwaite = list(coefficients = coef_rows(sat)))
}
write_reference(out, out_file)
cat("wrote", out_file, "\n")
