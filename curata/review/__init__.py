"""Review in the FiftyOne App: launching it on the project's dataset, saved views per problem,
and curata's plugin for relabelling and excluding with a change log."""

from curata.review.app import RunningApp, launch_app

__all__ = ["RunningApp", "launch_app"]
