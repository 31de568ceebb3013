"""Residual covariance structures: the user's ``cov_struct=`` / ``time=`` / ``het_var=``
checked against the data and connected to the engine's kernels."""
