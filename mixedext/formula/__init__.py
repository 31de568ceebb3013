"""Formula interface: lme4-style random-effect terms and the drop-in formula API."""
