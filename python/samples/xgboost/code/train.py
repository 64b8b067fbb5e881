"""Sample training job: gradient boosted trees (XGBoost) on data_url/train.csv.

Feature columns, last column the label; --rounds boosting rounds. Prints the
held-out accuracy and saves train_url/model.json.
"""
import argparse
import os

import numpy as np
import xgboost as xgb
from sklearn.model_selection import train_test_split

p = argparse.ArgumentParser()
p.add_argument("--data_url", required=True)
p.add_argument("--train_url", required=True)
p.add_argument("--rounds", type=int, default=50)
args, _ = p.parse_known_args()

data = np.loadtxt(os.path.join(args.data_url, "train.csv"), delimiter=",", skiprows=1)
x_train, x_test, y_train, y_test = train_test_split(data[:, :-1], data[:, -1], test_size=0.25, random_state=0)
model = xgb.XGBClassifier(n_estimators=args.rounds, max_depth=3, n_jobs=1).fit(x_train, y_train)
print(f"accuracy {(model.predict(x_test) == y_test).mean():.3f}", flush=True)
model.save_model(os.path.join(args.train_url, "model.json"))
print("saved", os.path.join(args.train_url, "model.json"))
