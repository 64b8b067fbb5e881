"""Sample training job: logistic regression (scikit-learn) on data_url/train.csv.

Feature columns, last column the label; --C is the inverse regularization
strength. Prints the held-out accuracy and saves train_url/model.pkl.
"""
import argparse
import os
import pickle

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

p = argparse.ArgumentParser()
p.add_argument("--data_url", required=True)
p.add_argument("--train_url", required=True)
p.add_argument("--C", type=float, default=1.0)
args, _ = p.parse_known_args()

data = np.loadtxt(os.path.join(args.data_url, "train.csv"), delimiter=",", skiprows=1)
x_train, x_test, y_train, y_test = train_test_split(data[:, :-1], data[:, -1], test_size=0.25, random_state=0)
model = LogisticRegression(C=args.C).fit(x_train, y_train)
print(f"accuracy {model.score(x_test, y_test):.3f}", flush=True)
with open(os.path.join(args.train_url, "model.pkl"), "wb") as f:
    pickle.dump(model, f)
print("saved", os.path.join(args.train_url, "model.pkl"))
