"""%mlops in a real IPython shell: one API call per subcommand, UsageError for mistakes."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

from mlops_lab import Lab, LabStatus


@pytest.fixture(scope="module")
def shell(lab: Lab) -> Iterator[InteractiveShell]:
    ipython = InteractiveShell.instance()
    ipython.run_line_magic("load_ext", "mlops_lab")
    yield ipython


def test_status_returns_the_labs_status(shell: InteractiveShell, lab: Lab) -> None:
    """%mlops status is lab.status(), shown as the cell's value."""
    status = shell.run_line_magic("mlops", "status")
    assert isinstance(status, LabStatus)
    assert status.store_path == lab.status().store_path


def test_sql_line_and_cell_return_dataframes(shell: InteractiveShell) -> None:
    """The query reaches DuckDB verbatim, quotes included, from a line or a cell."""
    line = shell.run_line_magic("mlops", "sql SELECT 'it''s' AS quoted, 2 AS n")
    cell = shell.run_cell_magic("mlops", "sql", "SELECT 3 AS n\nUNION ALL SELECT 4")
    assert isinstance(line, pd.DataFrame)
    assert line.to_dict("records") == [{"quoted": "it's", "n": 2}]
    assert cell.n.tolist() == [3, 4]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("sql DROP TABLE requests", "DROP statement was not run"),
        ("sql", "needs a query"),
        ("sql SELECT * FROM nowhere", "nowhere"),
        ("status now", "takes no arguments"),
        ("deploy iris", "the following arguments are required: model"),
        ("deploy Bad_Name iris@1", "endpoint name must start with a lowercase letter"),
        ("canary nowhere advance", "No endpoint named 'nowhere'"),
        ("undeploy", "the following arguments are required: endpoint"),
        ("", "the following arguments are required"),
        ("datasets all", "takes no arguments"),
        ("models a b", "at most a model name"),
        ("tune forest", "the following arguments are required: --dataset"),
        ("tune missing_variable --dataset d --space '{}'", "no variable 'missing_variable'"),
        ("tune forest --dataset d", "needs a parameter space"),
        ("tune forest --dataset d --space '{1:'", "does not evaluate"),
        ("tune forest --dataset no-such --space '{\"max_depth\": [2]}'", "no-such"),
        ("monitor", "the following arguments are required: endpoint"),
        ("monitor nowhere", "No endpoint named 'nowhere'"),
        ("monitor nowhere again", "invalid choice: 'again'"),
        ("drift", "takes one endpoint's name"),
        ("drift a b", "takes one endpoint's name"),
        ("outliers", "takes one endpoint's name"),
        ("explain", "takes a request id"),
        ("explain no-such-id", "No request 'no-such-id'"),
        ("explain no-such-id lime", "'method' parameter of explain"),
        ("alerts a b", "at most an endpoint's name"),
    ],
)
def test_mistakes_raise_usage_errors(shell: InteractiveShell, line: str, message: str) -> None:
    """User mistakes raise UsageError (shown without a traceback) saying what was wrong."""
    from sklearn.ensemble import RandomForestClassifier

    shell.user_ns["forest"] = RandomForestClassifier()
    with pytest.raises(UsageError, match=message):
        shell.run_line_magic("mlops", line)


def test_datasets_models_and_tune_are_one_api_call_each(shell: InteractiveShell, lab: Lab) -> None:
    """%mlops datasets / models return the API's frames; %%mlops tune runs a search."""
    from sklearn.datasets import make_classification
    from sklearn.tree import DecisionTreeClassifier

    X, y = make_classification(n_samples=120, n_features=4, random_state=0)
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"]).assign(y=y)
    version = lab.datasets.register("magic-data", frame, target="y")
    shell.user_ns["tree"] = DecisionTreeClassifier(random_state=0)
    run = shell.run_cell_magic(
        "mlops", f"tune tree --dataset {version.ref}", '{"max_depth": [1, 3]}'
    )
    assert len(run.results()) == 2 and set(run.results().status) == {"completed"}
    datasets = shell.run_line_magic("mlops", "datasets")
    assert version.ref in set(datasets.name + "@" + datasets.version)
    lab.registry.register("magic-tree", run.best(), trusted=["sklearn.tree._tree.Tree"])
    assert shell.run_line_magic("mlops", "models magic-tree").shape[0] == 1


def test_help_shows_usage(shell: InteractiveShell) -> None:
    """%mlops? shows the subcommands and an example."""
    doc = shell.find_line_magic("mlops").__doc__
    assert "%mlops status" in doc and "%mlops sql SELECT" in doc
    assert "{status,sql,datasets,models,tune,deploy,split,canary,shadow,bandit,feedback" in doc
    assert "%mlops bandit EP a@1 b@2" in doc


def test_deployment_magics_are_one_api_call_each(shell: InteractiveShell, lab: Lab) -> None:
    """%mlops deploy / split / shadow / bandit / feedback / endpoints / undeploy drive the
    Python API; mistakes in their arguments are UsageErrors that leave the routes as they
    were."""
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    X, y = load_iris(return_X_y=True, as_frame=True)
    first = lab.registry.register("magic-iris", LogisticRegression(max_iter=500).fit(X, y)).ref
    second = lab.registry.register("magic-iris", LogisticRegression(C=0.1).fit(X, y)).ref
    endpoint = shell.run_line_magic("mlops", f"deploy magic-ep {first}")
    shell.run_line_magic("mlops", f"split magic-ep {first}=0.5 {second}=0.5")
    assert endpoint.routes.params["weights"] == {first: 0.5, second: 0.5}
    before = endpoint.routes
    for line, message in [
        (f"split magic-ep {first}=lots", "could not read"),
        (f"bandit magic-ep {first} {second} --policy thompsen", "Did you mean 'thompson'"),
        (f"bandit magic-ep {first} {second} --param gamma=2", "gamma"),
        (f"shadow magic-ep {first}", "already serve traffic"),
        ("feedback magic-ep no_such_frame", "no variable 'no_such_frame'"),
    ]:
        with pytest.raises(UsageError, match=message):
            shell.run_line_magic("mlops", line)
    assert endpoint.routes == before
    shell.run_line_magic("mlops", f"bandit magic-ep {first} {second} --param seed=1")
    assert endpoint.routes.policy == "thompson"
    answer = endpoint.predict(X.head(4))
    shell.user_ns["truth"] = answer.assign(truth=y.head(4).tolist())
    assert shell.run_line_magic("mlops", "feedback magic-ep truth")["received"] == 4
    shell.user_ns["unknown"] = pd.DataFrame({"request_id": ["nope"], "truth": [1]})
    with pytest.raises(UsageError, match="served no request with the id 'nope'"):
        shell.run_line_magic("mlops", "feedback magic-ep unknown")
    assert "magic-ep" in set(shell.run_line_magic("mlops", "endpoints").endpoint)
    shell.run_line_magic("mlops", "undeploy magic-ep")
    assert "magic-ep" not in set(lab.endpoints().endpoint)


def test_monitoring_magics_are_one_api_call_each(shell: InteractiveShell, lab: Lab) -> None:
    """%mlops monitor sets the options and starts the monitor; run, health and results
    reach it; drift, outliers, explain and alerts read what it found."""
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    X, y = load_iris(return_X_y=True, as_frame=True)
    ref = lab.registry.register("magic-watch", LogisticRegression(max_iter=500).fit(X, y),
                                reference=X.sample(60, random_state=0)).ref  # fmt: skip
    endpoint = lab.deploy("magic-watch", ref)
    settings = shell.run_line_magic(
        "mlops", "monitor magic-watch --window-rows 40 --every 60 --alerts drift 'mae > 1'"
    )
    assert settings["window_rows"] == 40 and settings["alerts"] == ["drift", "mae > 1"]
    answer = endpoint.predict(X.sample(40, random_state=1))
    endpoint.flush()
    assert len(shell.run_line_magic("mlops", "monitor magic-watch run").windows) == 1
    assert shell.run_line_magic("mlops", "monitor magic-watch health")["passes"] >= 1
    drift = shell.run_line_magic("mlops", "drift magic-watch")
    assert sorted(drift.columns) == sorted(X.columns)
    assert len(shell.run_line_magic("mlops", "outliers magic-watch")) == 1
    explanation = shell.run_line_magic("mlops", f"explain {answer['request_id'][0]} shap")
    assert explanation["explainer"] == "KernelShap"
    assert "alert_id" in shell.run_line_magic("mlops", "alerts magic-watch").columns
    with pytest.raises(UsageError, match="takes no options"):
        shell.run_line_magic("mlops", "monitor magic-watch run --window-rows 3")
    with pytest.raises(UsageError, match="'window_rows' parameter of monitor"):
        shell.run_line_magic("mlops", "monitor magic-watch --window-rows 1")
    assert endpoint.monitor.settings["window_rows"] == 40
    shell.run_line_magic("mlops", "undeploy magic-watch")
