"""The tutorial's serving stack: Flask + the pickled GradientBoostingClassifier.

POST /predict {"rows": [[12 numbers], ...]} -> {"predictions": [P(>50K), ...]}.
Served by bench/run.sh with: BASELINE_MODEL=/tmp/.../model.pkl gunicorn -w 2 -b 127.0.0.1:PORT app:app
"""
import os
import pickle

import numpy as np
from flask import Flask, jsonify, request

with open(os.environ["BASELINE_MODEL"], "rb") as f:
    model = pickle.load(f)

app = Flask(__name__)


@app.route("/predict", methods=["POST"])
def predict():
    rows = request.get_json(force=True)["rows"]
    X = np.asarray(rows, dtype=np.float64)
    return jsonify({"predictions": model.predict_proba(X)[:, 1].tolist()})
