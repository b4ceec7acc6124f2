"""
Tuning CorrNet in a Pipeline with GridSearchCV
==============================================

CorrNet is a scikit-learn estimator: it sits in a :class:`~sklearn.pipeline.Pipeline` and
is tuned by :class:`~sklearn.model_selection.GridSearchCV`. The
:func:`skcorrnet.metrics.correlation_scorer` scores a fitted pipeline by the summed
correlation of the two views' components on the held-out fold, so compare settings at
one ``n_components`` (more components always add correlation).
"""

# %%
import pandas as pd
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler

from skcorrnet import CorrNet
from skcorrnet.metrics import correlation_scorer

images = load_digits().data.reshape(-1, 8, 8)
left = images[:, :, :4].reshape(-1, 32)
right = images[:, :, 4:].reshape(-1, 32)

pipeline = make_pipeline(
    MinMaxScaler(), CorrNet(n_components=10, max_iter=30, random_state=0)
)
search = GridSearchCV(
    pipeline,
    param_grid={
        "corrnet__hidden_layer_sizes": [(256,), (256, 256)],
        "corrnet__correlation_weight": [2.0, 50.0],
    },
    scoring=correlation_scorer,
    cv=3,
)
search.fit(left, right)

# %%
# The results table
# -----------------
results = pd.DataFrame(search.cv_results_)
columns = ["param_corrnet__hidden_layer_sizes", "param_corrnet__correlation_weight"]
table = results[columns + ["mean_test_score", "std_test_score", "mean_fit_time"]]
table.sort_values("mean_test_score", ascending=False)

# %%
print("best:", search.best_params_, f"score {search.best_score_:.2f}")
