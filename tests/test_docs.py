"""The "Coming from CCA" page against the two classes it compares."""

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.cross_decomposition import CCA

from skcorrnet import CorrNet

PAGE = Path(__file__).parents[1] / "docs" / "coming_from_cca.rst"
NAME = re.compile(r"``([A-Za-z_][A-Za-z0-9_]*)")


def table_rows():
    """(CCA names, CorrNet cell text) for each row of the page's list-tables."""
    rows, lines = [], PAGE.read_text().splitlines()
    for i, line in enumerate(lines):
        if line.startswith("   * - ") and i + 1 < len(lines):
            cell = [lines[i + 1].strip().removeprefix("- ")]
            for more in lines[i + 2 :]:
                if not more.startswith("       "):
                    break
                cell.append(more.strip())
            rows.append((NAME.findall(line), " ".join(cell)))
    return [(names, cell) for names, cell in rows if cell != "CorrNet"]  # headers


def public_names(estimator):
    return {name for name in dir(estimator) if not name.startswith("_")}


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(30, 4)), columns=list("abcd"))
    Y = rng.normal(size=(30, 3))
    cca = CCA(n_components=2).fit(X, Y)
    model = CorrNet(n_components=2, max_iter=1, early_stopping=False, random_state=0)
    return cca, model.fit(X, Y)


def test_every_public_name_of_cca_has_a_row(fitted):
    cca, _ = fitted
    documented = {name for names, _ in table_rows() for name in names}
    missing = (public_names(CCA) | public_names(cca)) - documented
    assert not missing, f"the page has no row for {sorted(missing)}"


def test_rows_say_truly_what_corrnet_has(fitted):
    """'None' rows name what CorrNet lacks; 'The same' and 'New' what it has."""
    _, model = fitted
    have = public_names(model)
    for names, cell in table_rows():
        if cell.startswith("None"):
            assert not set(names) & have, (names, cell)
        elif cell.startswith("The same"):
            assert set(names) <= have, (names, cell)
        elif cell.startswith("New:"):
            assert set(NAME.findall(cell)) <= have, cell
        elif cell.startswith("``"):
            assert NAME.match(cell).group(1) in have, (names, cell)
