"""Plotly figures from plain data (lists and arrays); no training imports, so any layer above can draw."""

from __future__ import annotations

import plotly.graph_objects as go


def empty_figure(message: str = "") -> go.Figure:
    """A blank figure carrying a short note (shown before a job has produced anything)."""
    fig = go.Figure()
    fig.update_layout(
        xaxis={"visible": False}, yaxis={"visible": False}, height=280,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        annotations=[{"text": message, "showarrow": False, "font": {"size": 14}}] if message else [],
    )
    return fig


# -- experiments: arms side by side --------------------------------------------------------------------
ARM_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
               "#7f7f7f", "#bcbd22")
# legends under the plot, so half-width figures keep their drawing area
_LEGEND_BELOW = {"orientation": "h", "x": 0, "y": -0.22, "yanchor": "top"}


def roc_overlay_figure(curves: dict, title: str = "ROC curves (mean over repeats)") -> go.Figure:
    """One ROC curve per arm: `curves = {arm: {"fpr": [...], "tpr": [...], "auc": float|None}}`."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line={"dash": "dot", "color": "#aaa"},
                             name="chance", hoverinfo="skip"))
    for i, (name, c) in enumerate(curves.items()):
        if not c:
            continue
        label = f"{name} (AUC {c['auc']:.3f})" if c.get("auc") is not None else name
        fig.add_trace(go.Scatter(x=c["fpr"], y=c["tpr"], mode="lines", name=label,
                                 line={"color": ARM_COLOURS[i % len(ARM_COLOURS)], "width": 2}))
    fig.update_layout(title=title, xaxis_title="false positive rate", yaxis_title="true positive rate",
                      xaxis={"range": [0, 1]}, yaxis={"range": [0, 1.02]}, height=460,
                      margin={"l": 50, "r": 20, "t": 50, "b": 50}, legend=_LEGEND_BELOW)
    return fig


def metric_bars_figure(arms: list[str], metrics: dict,
                       title: str = "Metrics per arm (mean ± std)") -> go.Figure:
    """Grouped bars with error bars: `metrics = {metric label: (means, stds)}`, one value per arm."""
    fig = go.Figure()
    for i, (label, (means, stds)) in enumerate(metrics.items()):
        fig.add_trace(go.Bar(x=arms, y=means, name=label, marker_color=ARM_COLOURS[i % len(ARM_COLOURS)],
                             error_y={"type": "data", "array": stds, "visible": True}))
    fig.update_layout(title=title, barmode="group", yaxis={"range": [0, 1.05]}, height=460,
                      margin={"l": 50, "r": 20, "t": 50, "b": 50}, legend=_LEGEND_BELOW)
    return fig


def sweep_band_figure(series: dict, x_title: str, title: str = "Sweep (mean ± std)") -> go.Figure:
    """A line per series with a shaded ± std band: `series = {label: (x, means, stds)}`."""
    fig = go.Figure()
    for i, (label, (x, means, stds)) in enumerate(series.items()):
        colour = ARM_COLOURS[i % len(ARM_COLOURS)]
        upper = [m + s for m, s in zip(means, stds, strict=True)]
        lower = [m - s for m, s in zip(means, stds, strict=True)]
        fig.add_trace(go.Scatter(x=list(x) + list(x)[::-1], y=upper + lower[::-1], fill="toself",
                                 fillcolor=colour, opacity=0.18, line={"width": 0}, hoverinfo="skip",
                                 showlegend=False))
        fig.add_trace(go.Scatter(x=list(x), y=means, mode="lines+markers", name=label,
                                 line={"color": colour}))
    fig.update_layout(title=title, xaxis_title=x_title, yaxis_title="metric", height=460,
                      margin={"l": 50, "r": 20, "t": 50, "b": 50}, legend=_LEGEND_BELOW)
    return fig


def curve_band_figure(panels: list, x_title: str, title: str = "", log_x: bool = True) -> go.Figure:
    """Lines with a shaded interval band, one panel (row) per metric, x on a log axis.

    `panels = [(y_title, {label: {"x", "mean", "low", "high", "colour": i, "dash": bool}})]`; a series
    with the same colour index and `dash` (e.g. the out-of-distribution test set) shares its line's colour."""
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=len(panels), cols=1, shared_xaxes=True, vertical_spacing=0.08)
    ticks = sorted({float(v) for _, series in panels for s in series.values() for v in s["x"]})
    for row, (y_title, series) in enumerate(panels, start=1):
        for label, s in series.items():
            colour = ARM_COLOURS[s.get("colour", 0) % len(ARM_COLOURS)]
            x = list(s["x"])
            fig.add_trace(go.Scatter(x=x + x[::-1], y=list(s["high"]) + list(s["low"])[::-1], fill="toself",
                                     mode="lines", fillcolor=colour, opacity=0.12 if s.get("dash") else 0.2,
                                     line={"width": 0}, hoverinfo="skip", showlegend=False, legendgroup=label),
                          row=row, col=1)
            fig.add_trace(go.Scatter(x=x, y=list(s["mean"]), mode="lines+markers", name=label, legendgroup=label,
                                     showlegend=row == 1, line={"color": colour, "dash": "dash" if s.get("dash")
                                                                else "solid"},
                                     hovertemplate=f"{label}<br>%{{x:.0f}} real/class: %{{y:.3f}}<extra></extra>"),
                          row=row, col=1)
        fig.update_yaxes(title_text=y_title, row=row, col=1)
    fig.update_xaxes(type="log" if log_x else "linear", tickvals=ticks, ticktext=[f"{t:.0f}" for t in ticks])
    fig.update_xaxes(title_text=x_title, row=len(panels), col=1)
    fig.update_layout(title=title, height=320 * len(panels) + 140, margin={"l": 60, "r": 20, "t": 50, "b": 50},
                      legend={**_LEGEND_BELOW, "y": -0.12})
    return fig


def curves_overlay_figure(curves: dict, key: str = "train_loss", title: str = "", x_key: str = "epoch",
                          x_title: str = "epoch") -> go.Figure:
    """Training curves of several arms, one line per repeat, coloured by arm:
    `curves = {arm: [{x_key: [...], key: [...]}, ...]}`. Markers too, so a one-epoch run still shows."""
    fig = go.Figure()
    for i, (name, runs) in enumerate(curves.items()):
        colour = ARM_COLOURS[i % len(ARM_COLOURS)]
        for j, r in enumerate(runs):
            if key not in r or x_key not in r:
                continue
            fig.add_trace(go.Scatter(x=r[x_key], y=r[key], mode="lines+markers", name=name, legendgroup=name,
                                     line={"color": colour, "width": 1.5}, marker={"size": 5},
                                     showlegend=j == 0, opacity=0.85))
    label = key.replace("_", " ")
    fig.update_layout(title=title or label, xaxis_title=x_title, yaxis_title=label, height=460,
                      margin={"l": 50, "r": 20, "t": 50, "b": 50}, legend=_LEGEND_BELOW)
    return fig


# -- domain gap: real vs synthetic ---------------------------------------------------------------------
SET_COLOURS = {"real": "#1f77b4", "synthetic": "#d62728"}
CLASS_SYMBOLS = ("circle", "x", "diamond", "square", "triangle-up", "star")


def embedding_figure(x: list, y: list, sets: list, labels: list, classes: list[str],
                     title: str = "Embedding of real and synthetic images") -> go.Figure:
    """2-D scatter: colour = set (0 real, 1 synthetic), marker = class (`labels` index `classes`)."""
    fig = go.Figure()
    for s, name in enumerate(("real", "synthetic")):
        for c, cls in enumerate(classes):
            sel = [i for i in range(len(x)) if sets[i] == s and labels[i] == c]
            if not sel:
                continue
            fig.add_trace(go.Scattergl(
                x=[x[i] for i in sel], y=[y[i] for i in sel], mode="markers", name=f"{name} {cls}",
                marker={"color": SET_COLOURS[name], "symbol": CLASS_SYMBOLS[c % len(CLASS_SYMBOLS)],
                        "size": 6, "opacity": 0.65}))
    fig.update_layout(title=title, height=460, margin={"l": 40, "r": 20, "t": 50, "b": 40},
                      xaxis={"title": "component 1"}, yaxis={"title": "component 2"})
    return fig


def stat_histograms_figure(stats: dict, labels: dict, classes: list[str], names: list[str],
                           descriptions: dict | None = None) -> go.Figure:
    """One row per statistic, one column per class, real and synthetic histograms overlaid.
    `stats = {"real": {name: values}, "synthetic": {...}}`, `labels = {"real": class index per value, ...}`;
    None/NaN values are left out."""
    from plotly.subplots import make_subplots

    names = list(names)
    fig = make_subplots(rows=max(1, len(names)), cols=max(1, len(classes)), shared_xaxes=False,
                        column_titles=list(classes), vertical_spacing=min(0.08, 0.6 / max(1, len(names))),
                        horizontal_spacing=0.06)
    for r, name in enumerate(names, start=1):
        for c, _ in enumerate(classes, start=1):
            for s in ("real", "synthetic"):
                vals = [v for v, lab in zip(stats[s][name], labels[s], strict=True)
                        if lab == c - 1 and v is not None and v == v]
                fig.add_trace(go.Histogram(x=vals, name=s, legendgroup=s, showlegend=r == 1 and c == 1,
                                           marker_color=SET_COLOURS[s], opacity=0.55, histnorm="probability",
                                           nbinsx=25), row=r, col=c)
        title = name if not descriptions else f"{name}<br><sup>{descriptions.get(name, '')}</sup>"
        fig.update_yaxes(title_text=title, row=r, col=1, title_font={"size": 11})
    fig.update_layout(barmode="overlay", height=170 * max(1, len(names)) + 80,
                      margin={"l": 60, "r": 20, "t": 50, "b": 30}, title="Measured statistics per class")
    return fig


def trials_figure(numbers: list, values: list, direction: str = "minimize",
                  title: str = "Simulator fit: objective per trial", kept: list[bool] | None = None) -> go.Figure:
    """Objective of each trial (dots) and the best so far (line); `direction` says which way is better.
    `kept`: which trials hold a fit's constraint; the others are hollow and never the best so far."""
    kept = kept or [True] * len(values)
    best, cur = [], None
    for v, ok in zip(values, kept, strict=True):
        if v is not None and ok:
            cur = v if cur is None else (min(cur, v) if direction == "minimize" else max(cur, v))
        best.append(cur)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[n for n, ok in zip(numbers, kept, strict=True) if ok],
                             y=[v for v, ok in zip(values, kept, strict=True) if ok], mode="markers", name="trial",
                             marker={"color": "#7f7f7f"}))
    if not all(kept):
        fig.add_trace(go.Scatter(x=[n for n, ok in zip(numbers, kept, strict=True) if not ok],
                                 y=[v for v, ok in zip(values, kept, strict=True) if not ok], mode="markers",
                                 name="over the realism cap", marker={"color": "#7f7f7f", "symbol": "circle-open"}))
    fig.add_trace(go.Scatter(x=numbers, y=best, mode="lines", name="best so far", line={"color": "#d62728"}))
    fig.update_layout(title=title, xaxis_title="trial", yaxis_title="objective", height=360,
                      margin={"l": 50, "r": 20, "t": 50, "b": 40})
    return fig


# -- data: what a dataset holds ------------------------------------------------------------------------
def class_counts_figure(counts: dict, before: dict | None = None, title: str = "Images per class",
                        before_label: str = "before class map") -> go.Figure:
    """Bars of images per class; with `before` (e.g. the counts before a class map) a second set of bars."""
    fig = go.Figure()
    if before and before != counts:
        fig.add_trace(go.Bar(x=list(before), y=list(before.values()), name=before_label,
                             marker_color="#bbbbbb", text=list(before.values()), textposition="outside"))
    fig.add_trace(go.Bar(x=list(counts), y=list(counts.values()), name="in the dataset",
                         marker_color="#1f77b4", text=list(counts.values()), textposition="outside"))
    top = max([*counts.values(), *(before or {}).values(), 1])
    fig.update_layout(title=title, barmode="group", height=320,
                      yaxis={"title": "images", "range": [0, top * 1.18]},
                      margin={"l": 50, "r": 20, "t": 50, "b": 60},
                      showlegend=bool(before and before != counts))
    return fig


def image_size_figure(widths: list, heights: list, title: str = "Source image sizes") -> go.Figure:
    """One dot per distinct width x height, sized and labelled by how many images have it."""
    from collections import Counter

    pairs = Counter(zip(widths, heights, strict=True))
    xs, ys, ns = [p[0] for p in pairs], [p[1] for p in pairs], list(pairs.values())
    biggest = max(ns, default=1)
    fig = go.Figure(go.Scatter(
        x=xs, y=ys, mode="markers", text=[f"{w}x{h}: {n} images" for (w, h), n in pairs.items()],
        hoverinfo="text", marker={"size": [8 + 30 * (n / biggest) ** 0.5 for n in ns], "color": "#1f77b4",
                                  "opacity": 0.6}))
    fig.update_layout(title=title, xaxis={"title": "width (px)", "rangemode": "tozero"},
                      yaxis={"title": "height (px)", "rangemode": "tozero"}, height=320,
                      margin={"l": 60, "r": 20, "t": 50, "b": 50})
    return fig


# -- classifier training: curves, confusion matrix, ROC -------------------------------------------------
def training_curves_figure(history: list[dict], metric: str = "loss", title: str = "") -> go.Figure:
    """Train and validation `metric` ("loss" or "accuracy") per epoch from a run's history rows
    (`{"epoch", "stage", "train_loss", "val_loss", ...}`); a dotted line marks where fine-tuning starts."""
    fig = go.Figure()
    epochs = [h["epoch"] for h in history]
    for split, colour in (("train", "#1f77b4"), ("val", "#d62728")):
        ys = [h.get(f"{split}_{metric}") for h in history]
        if any(v is not None for v in ys):
            fig.add_trace(go.Scatter(x=epochs, y=ys, mode="lines+markers", name=f"{split} {metric}",
                                     line={"color": colour}))
    for prev, cur in zip(history, history[1:], strict=False):
        if cur.get("stage") != prev.get("stage"):
            fig.add_vline(x=prev["epoch"] + 0.5, line={"dash": "dot", "color": "#888"},
                          annotation_text=str(cur.get("stage", "")), annotation_position="top")
    fig.update_xaxes(dtick=max(1, -(-len(history) // 10)))  # whole epochs, at most ~10 ticks
    fig.update_layout(title=title or f"{metric} per epoch", xaxis_title="epoch", yaxis_title=metric,
                      height=320, margin={"l": 50, "r": 20, "t": 50, "b": 45},
                      yaxis={"range": [0, 1.02]} if metric == "accuracy" else {})
    return fig


def confusion_matrix_figure(matrix: list[list[int]], classes: list[str],
                            title: str = "Confusion matrix (test)") -> go.Figure:
    """Heat map of counts (rows = true class, columns = predicted), coloured by the share of each row."""
    rows = [[int(v) for v in r] for r in matrix]
    shares = [[v / max(1, sum(r)) for v in r] for r in rows]
    text = [[f"{v}<br>{s:.0%}" for v, s in zip(r, sr, strict=True)]
            for r, sr in zip(rows, shares, strict=True)]
    fig = go.Figure(go.Heatmap(z=shares, x=classes, y=classes, text=text, texttemplate="%{text}",
                               colorscale="Blues", zmin=0, zmax=1, colorbar={"title": "row share"},
                               hovertemplate="true %{y}<br>predicted %{x}<br>%{text}<extra></extra>"))
    fig.update_layout(title=title, xaxis_title="predicted", yaxis_title="true", height=360,
                      yaxis={"autorange": "reversed"}, margin={"l": 70, "r": 20, "t": 50, "b": 50})
    return fig


def roc_figure(curves: dict, title: str = "ROC curve (held-out real test images)") -> go.Figure:
    """ROC of a classifier's test set: `curves = {class: {"fpr", "tpr", "auc"}}` (one-vs-rest per class)."""
    return roc_overlay_figure(curves, title=title)


# -- GAN training (GAN tab) -------------------------------------------------------------------------------
def gan_losses_figure(metrics: list[dict], title: str = "G and D losses") -> go.Figure:
    """G and D loss per logging window: `metrics` are metric events (model, step, loss_g, loss_d, ...)."""
    return _gan_lines(metrics, {"loss_d": ("D loss", "solid"), "loss_g": ("G loss", "dash"),
                                "loss_cycle": ("cycle loss", "dot")}, title, "loss")


def gan_d_outputs_figure(metrics: list[dict], title: str = "Mean D(x) and D(G(z))") -> go.Figure:
    """Mean D output on real images (D(x)) and on generated ones (D(G(z))): D(x) → 1 and D(G(z)) → 0
    means D is winning; both stuck near 0.5 early is normal."""
    return _gan_lines(metrics, {"d_x": ("D(x)", "solid"), "d_g_z": ("D(G(z))", "dash")}, title, "D output")


def gan_fidelity_figure(events: list[dict], title: str = "KID and FID over training") -> go.Figure:
    """KID (left axis, ×10⁻³) and FID (right axis) at each evaluation, per model (fidelity events)."""
    fig = go.Figure()
    models = list(dict.fromkeys(e.get("model", "") for e in events))
    for i, m in enumerate(models):
        ev = [e for e in events if e.get("model", "") == m]
        colour = ARM_COLOURS[i % len(ARM_COLOURS)]
        x = [e["epoch"] for e in ev]
        fig.add_trace(go.Scatter(x=x, y=[e["kid"] * 1000 for e in ev], mode="lines+markers", name=f"{m} KID",
                                 line={"color": colour, "width": 2}))
        fig.add_trace(go.Scatter(x=x, y=[e["fid"] for e in ev], mode="lines+markers", name=f"{m} FID",
                                 line={"color": colour, "dash": "dot"}, yaxis="y2"))
    space = events[-1].get("feature_space", "") if events else ""
    fig.update_layout(title=f"{title} ({space} features)" if space else title, xaxis_title="epoch",
                      yaxis={"title": "KID ×10⁻³ (lower is better)"},
                      yaxis2={"title": "FID", "overlaying": "y", "side": "right", "showgrid": False},
                      height=360, margin={"l": 60, "r": 60, "t": 50, "b": 50}, legend=_LEGEND_BELOW)
    return fig


def _gan_lines(metrics: list[dict], series: dict, title: str, y_title: str) -> go.Figure:
    fig = go.Figure()
    models = list(dict.fromkeys(e.get("model", "") for e in metrics))
    for i, m in enumerate(models):
        ev = [e for e in metrics if e.get("model", "") == m]
        colour = ARM_COLOURS[i % len(ARM_COLOURS)]
        for key, (label, dash) in series.items():
            pts = [(e["step"], e[key]) for e in ev if e.get(key) is not None]
            if pts:
                name = f"{m} {label}" if len(models) > 1 else label
                fig.add_trace(go.Scatter(x=[p[0] for p in pts], y=[p[1] for p in pts], mode="lines",
                                         name=name,
                                         line={"color": colour if len(models) > 1 else None, "dash": dash}))
    fig.update_layout(title=title, xaxis_title="step", yaxis_title=y_title, height=360,
                      margin={"l": 50, "r": 20, "t": 50, "b": 50}, legend=_LEGEND_BELOW)
    return fig


# -- shortcut audit ------------------------------------------------------------------------------------
GROUP_COLOURS = {"acquisition": "#d62728", "lesion": "#1f77b4"}


def class_histograms_figure(values: dict, labels: list, classes: list[str], names: list[str],
                            descriptions: dict | None = None,
                            title: str = "Top shortcuts: per-class distributions") -> go.Figure:
    """One panel per feature, the classes' histograms overlaid: `values = {name: per-image values}`,
    `labels` the class index per image; None/NaN left out."""
    from plotly.subplots import make_subplots

    names = list(names)
    cols = 2 if len(names) > 1 else 1
    rows = max(1, -(-len(names) // cols))
    subtitles = [n if not descriptions else f"{n}: {descriptions.get(n, '')}"[:60] for n in names]
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=subtitles, vertical_spacing=0.5 / rows + 0.05,
                        horizontal_spacing=0.08)
    for k, name in enumerate(names):
        r, c = k // cols + 1, k % cols + 1
        for i, cls in enumerate(classes):
            vals = [v for v, lab in zip(values[name], labels, strict=True)
                    if lab == i and v is not None and v == v]
            fig.add_trace(go.Histogram(x=vals, name=cls, legendgroup=cls, showlegend=k == 0,
                                       marker_color=ARM_COLOURS[i % len(ARM_COLOURS)], opacity=0.55,
                                       histnorm="probability", nbinsx=30), row=r, col=c)
    fig.update_layout(barmode="overlay", height=230 * rows + 90, title=title,
                      margin={"l": 50, "r": 20, "t": 70, "b": 30}, legend=_LEGEND_BELOW)
    fig.update_annotations(font_size=11)
    return fig


def feature_auc_figure(features: list[dict], title: str = "Single-feature ROC-AUC (95% CI), ranked",
                       top: int = 25) -> go.Figure:
    """Horizontal bars of each feature's AUC with its interval, coloured by group (acquisition, lesion):
    `features = [{"name", "group", "auc", "low", "high"}, ...]`, best first."""
    feats = list(features)[:top][::-1]
    fig = go.Figure()
    for group, colour in GROUP_COLOURS.items():
        sel = [f for f in feats if f["group"] == group]
        if not sel:
            continue
        fig.add_trace(go.Bar(
            y=[f["name"] for f in sel], x=[f["auc"] for f in sel], orientation="h", name=group,
            marker_color=colour,
            error_x={"type": "data", "symmetric": False, "visible": True,
                     "array": [max(0.0, (f["high"] - f["auc"]) if f["high"] == f["high"] else 0.0) for f in sel],
                     "arrayminus": [max(0.0, (f["auc"] - f["low"]) if f["low"] == f["low"] else 0.0)
                                    for f in sel]}))
    fig.update_layout(title=title, xaxis={"range": [0.45, 1.0], "title": "ROC-AUC (max of AUC, 1 - AUC)"},
                      yaxis={"categoryorder": "array", "categoryarray": [f["name"] for f in feats]},
                      height=max(300, 22 * len(feats) + 120), margin={"l": 130, "r": 20, "t": 50, "b": 40},
                      legend=_LEGEND_BELOW, barmode="overlay")
    return fig


def edit_effects_figure(deltas: dict, title: str = "Change in P(positive) per edit") -> go.Figure:
    """Box plots of the per-image change in P(positive class) under each edit, one colour per classifier:
    `deltas = {classifier: {edit: [values]}}`."""
    fig = go.Figure()
    for i, (name, per_edit) in enumerate(deltas.items()):
        xs, ys = [], []
        for edit, vals in per_edit.items():
            xs += [edit] * len(vals)
            ys += list(vals)
        fig.add_trace(go.Box(x=xs, y=ys, name=name, marker_color=ARM_COLOURS[i % len(ARM_COLOURS)],
                             boxmean=True))
    fig.add_hline(y=0, line={"dash": "dot", "color": "#888"})
    fig.update_layout(title=title, boxmode="group", yaxis={"title": "Δ P", "range": [-1, 1]}, height=460,
                      margin={"l": 50, "r": 20, "t": 50, "b": 50}, legend=_LEGEND_BELOW)
    return fig
