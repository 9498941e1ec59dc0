"""curata's FiftyOne plugin: review decisions as App operators.

FiftyOne loads this folder from the plugins directory ``curata review`` points it to. Every
operator acts on the selected samples, or on the current view when none are selected, calls the
matching function of :mod:`curata.review.decisions` (which logs the change) and tells the
reviewer what it changed.
"""

import fiftyone.operators as foo
import fiftyone.operators.types as types

from curata.errors import CurataError
from curata.review import decisions

VIA = "app"


class _Decision(foo.Operator):
    """Shared form parts and result handling for the decision operators."""

    name = ""
    label = ""
    description = ""
    icon = None
    place = None  # a types.Places value to show a button there

    @property
    def config(self):
        return foo.OperatorConfig(
            name=self.name,
            label=f"curata: {self.label}",
            description=self.description,
            dynamic=True,
        )

    def resolve_placement(self, ctx):
        if self.place is None:
            return None
        return types.Placement(
            self.place,
            types.Button(label=self.label, icon=self.icon, prompt=True),
        )

    def resolve_output(self, ctx):
        outputs = types.Object()
        outputs.str("message", label="Done", view=types.Notice())
        return types.Property(outputs)

    def finish(self, ctx, decision):
        ctx.ops.notify(decision.message, variant="success" if decision.changed else "info")
        ctx.ops.reload_dataset()
        return {"message": decision.message, "batch": decision.batch.id, "changed": decision.changed}


def _targets(ctx):
    """(sample ids, how they were chosen): the selection, else the current view."""
    if ctx.selected:
        return list(ctx.selected), f"the {len(ctx.selected)} selected samples"
    if ctx.has_custom_view:
        ids = ctx.view.values("id")
        return ids, f"all {len(ids)} samples in the current view"
    return [], "nothing: select samples, or open one of the saved views"


def _scope(inputs, ctx, verb):
    ids, described = _targets(ctx)
    prop = inputs.view("scope", types.Notice(label=f"{verb} {described}"))
    if not ids:
        prop.invalid = True
        prop.error_message = "select samples or open a saved view first"
    return ids


class _OnTargets(_Decision):
    """A decision on the selected samples, or on the current view when none are selected."""

    verb = ""  # how the form describes the decision: "Relabel", "Exclude", ...

    def resolve_input(self, ctx):
        inputs = types.Object()
        ids = _scope(inputs, ctx, self.verb)
        self.add_inputs(inputs, ctx, ids)
        inputs.str("note", label="Note", description="Optional: why (kept in the history)", required=False)
        return types.Property(inputs, view=types.View(label=f"curata: {self.label.lower()}"))

    def add_inputs(self, inputs, ctx, ids):
        """Inputs of this decision beyond the scope and the note."""

    def execute(self, ctx):
        ids, _ = _targets(ctx)
        decision = self.decide(ctx.dataset, ids, ctx.params, note=ctx.params.get("note"))
        ctx.ops.clear_selected_samples()
        return self.finish(ctx, decision)

    def decide(self, dataset, ids, params, note):
        raise NotImplementedError


class Relabel(_OnTargets):
    name = "relabel"
    label = "Relabel"
    verb = "Relabel"
    description = "Give the selected samples (or the current view) another class"
    icon = "label"
    place = types.Places.SAMPLES_GRID_SECONDARY_ACTIONS

    def add_inputs(self, inputs, ctx, ids):
        classes = list(ctx.dataset.default_classes or [])
        choices = types.DropdownView()
        for name in classes:
            choices.add_choice(name, label=name)
        inputs.enum("label", classes, label="New class", required=True, view=choices)

    def decide(self, dataset, ids, params, note):
        return decisions.relabel(dataset, ids, params["label"], via=VIA, note=note)


class AcceptSuggestions(_OnTargets):
    name = "accept_suggestions"
    label = "Accept suggested labels"
    verb = "Accept the suggestion for"
    description = "Take the embeddings' suggested label for the selected samples (or the current view)"
    icon = "check"
    place = types.Places.SAMPLES_GRID_SECONDARY_ACTIONS

    def add_inputs(self, inputs, ctx, ids):
        from fiftyone import ViewField as F

        if ids and ctx.dataset.has_field("suggested_label"):
            view = ctx.dataset.select(ids).exists("suggested_label")
            moves = view.match(F("suggested_label") != F("ground_truth.label")).count_values(
                "suggested_label"
            )
            summary = ", ".join(f"{n} → {label}" for label, n in sorted(moves.items(), key=lambda x: -x[1]))
            inputs.view("preview", types.Notice(label=f"changes: {summary or 'none'}"))

    def decide(self, dataset, ids, params, note):
        return decisions.accept_suggestions(dataset, ids, via=VIA, note=note)


class Exclude(_OnTargets):
    name = "exclude"
    label = "Exclude"
    verb = "Exclude"
    description = "Leave the selected samples (or the current view) out of training and publishing"
    icon = "block"
    place = types.Places.SAMPLES_GRID_SECONDARY_ACTIONS

    def decide(self, dataset, ids, params, note):
        return decisions.exclude(dataset, ids, via=VIA, note=note)


class Restore(_OnTargets):
    name = "restore"
    label = "Restore"
    verb = "Restore"
    description = "Bring excluded samples back into training and publishing"
    icon = "restore"

    def decide(self, dataset, ids, params, note):
        return decisions.restore(dataset, ids, via=VIA, note=note)


class MarkReviewed(_OnTargets):
    name = "mark_reviewed"
    label = "Mark reviewed"
    verb = "Mark"
    description = "Record that the selected samples (or the current view) were checked and are fine"
    icon = "done_all"
    place = types.Places.SAMPLES_GRID_SECONDARY_ACTIONS

    def add_inputs(self, inputs, ctx, ids):
        inputs.bool(
            "needs_another_look",
            default=False,
            label="Needs another look",
            description="Tag them needs-review for a second opinion instead",
            view=types.CheckboxView(),
        )

    def decide(self, dataset, ids, params, note):
        again = bool(params.get("needs_another_look"))
        return decisions.mark_reviewed(dataset, ids, needs_another_look=again, via=VIA, note=note)


class KeepDuplicate(_Decision):
    name = "keep_duplicate"
    label = "Keep this copy"
    description = "Keep this sample of its duplicate group and exclude the other copies"
    icon = "filter_1"
    place = types.Places.SAMPLES_VIEWER_ACTIONS

    def resolve_input(self, ctx):
        inputs = types.Object()
        keeper = self._keeper(ctx)
        group = None
        if keeper is not None and ctx.dataset.has_field("dup_group"):
            group = ctx.dataset[keeper].get_field("dup_group")
        if keeper is None:
            text = "Open one sample, or select exactly one"
        elif group is None:
            text = "This sample is in no duplicate group"
        else:
            text = f"Keep this copy and exclude the rest of duplicate group {group}"
        prop = inputs.view("scope", types.Notice(label=text))
        prop.invalid = group is None
        inputs.str("note", label="Note", description="Optional: why (kept in the history)", required=False)
        return types.Property(inputs, view=types.View(label="curata: keep this copy"))

    def execute(self, ctx):
        keeper = self._keeper(ctx)
        if keeper is None:
            raise CurataError("open one sample, or select exactly one, to keep it")
        decision = decisions.keep_duplicate(ctx.dataset, keeper, via=VIA, note=ctx.params.get("note"))
        return self.finish(ctx, decision)

    @staticmethod
    def _keeper(ctx):
        if ctx.current_sample:
            return ctx.current_sample
        if len(ctx.selected) == 1:
            return ctx.selected[0]
        return None


class UndoLast(_Decision):
    name = "undo_last"
    label = "Undo the last decision"
    description = "Revert the newest review decision (samples changed since keep their newer state)"
    icon = "undo"

    def resolve_input(self, ctx):
        from curata.review import history

        inputs = types.Object()
        batch = history.last_undoable_batch(ctx.dataset)
        if batch is None:
            prop = inputs.view("scope", types.Notice(label="There is no decision to undo"))
            prop.invalid = True
        else:
            entries = history.changes(ctx.dataset, batch=batch)
            samples = len({c.sample_id for c in entries})
            how = entries[0].how if entries else "?"
            inputs.view("scope", types.Notice(label=f"Undo {how} on {samples} samples (batch {batch})"))
        return types.Property(inputs, view=types.View(label="curata: undo"))

    def execute(self, ctx):
        decision = decisions.undo(ctx.dataset, via=VIA)
        if decision is None:
            return {"message": "there was no decision to undo", "changed": 0}
        return self.finish(ctx, decision)


def register(plugin):
    for operator in (Relabel, AcceptSuggestions, KeepDuplicate, Exclude, Restore, MarkReviewed, UndoLast):
        plugin.register(operator)
