"""``quantum hyperopt``: parameter search on the one backtest engine, scored on time
folds, judged on a holdout no trial read, shared by workers through Redis."""
