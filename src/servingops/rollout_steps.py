"""One endpoint's traffic rollout during apply: each step is one config update that must settle
READY, then the pause, observed through the metrics export, then the gates; a failed gate
restores the split from before (rollback). The plan's RolloutPlan says what may happen;
rollout.py's pure functions say where the live split stands; this module makes the calls,
through the endpoint's steps.EndpointRun (its writes, waits, deadline and outcome).

Write order keeps every crash resumable from the live split and the state tag alone: the tag
says `next` before a step's PUT (with the split before the rollout, so a rollback target is
never lost), `live` once the step is READY, `rollback` before the PUT that restores the split,
`rolledback` once it is READY; the tag is removed when the last step has passed its gates.

Pauses: a run without --max-steps waits each pause out, reading the export once a minute (it
holds only the last complete minute); it fails as soon as the minutes seen hold min_requests
and break a gate, and passes when the pause is over. A run with --max-steps never waits out a
pause: it judges a step whose pause is over on the minutes it can still read (the last
complete one, then one a minute while too few requests were seen) and otherwise leaves, saying
when to come back. Too little traffic: the window grows a minute at a time for at most one more
pause (at least a minute); if it still holds fewer than min_requests, the step fails like a
breached gate (never passes on too little evidence).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from . import normalize, rollout, steps
from .apply_model import RolloutEvent, RolloutEventKind, RolloutObserver
from .gates import (
    MINUTE_MS,
    Breach,
    Check,
    Judgment,
    Verdict,
    Window,
    judge,
    needs_metrics,
    parse_export,
)
from .model import ROLLOUT_TAG, Carrier, Endpoint, RolloutPlan, RolloutStatus
from .rollout import Phase

SCRAPE_OFFSET = 1.0
"""Seconds after a minute boundary to read the export, so the minute just ended is complete."""


async def drive(run: steps.EndpointRun, live: Endpoint) -> None:
    """Carry `run`'s config change as the plan's rollout says (`live`: a settled GET)."""
    plan = run.action.rollout
    after = run.action.after
    if plan is None:
        raise steps.Failed("the plan has no rollout for this endpoint")
    if plan.status in (RolloutStatus.HELD, RolloutStatus.ABANDONED):
        if after is not None and Carrier.CONFIG in run.action.carriers:
            await run.send_config(after, live)  # the file's other changes, in one update
        if plan.status is RolloutStatus.HELD:
            raise steps.Failed(held_message(plan))
        await clear_state(run)
        return
    driver = _Driver(run, plan, after)
    if plan.status is RolloutStatus.ROLLING_BACK:
        state = rollout.decode(live.live_status.rollout_tag)
        breach = state.failure if state and state.failure else Breach(check=Check.DEPLOY)
        await driver.roll_back(breach, share=plan.failed_share or plan.live_share)
    await driver.advance(live)


async def clear_state(run: steps.EndpointRun) -> None:
    """Remove the rollout's state tag (the rollout is over, or no longer wanted)."""
    await run.write(
        "PATCH tags", lambda: run.ctx.api.patch_tags(run.name, add=[], delete=[ROLLOUT_TAG])
    )


def held_message(plan: RolloutPlan) -> str:
    where = f" at {plan.failed_share}%" if plan.failed_share is not None else ""
    why = f" ({plan.failure})" if plan.failure else ""
    return (
        f"the rollout of {plan.entity} was rolled back earlier{where}{why}; it stays at "
        f"{rollout.describe_split(plan.before)} until the file changes (a new version, or the "
        "rollout block) to try again"
    )


class _Driver:
    def __init__(self, run: steps.EndpointRun, plan: RolloutPlan, after: Endpoint | None) -> None:
        if after is None or not isinstance(after.body.get("config"), Mapping):
            raise steps.Failed("the desired state has no config to roll out")
        self.run = run
        self.plan = plan
        self.after = after
        self.ctx = run.ctx
        self.name = run.name
        self.started = 0
        observer = self.ctx.observer
        self.events = observer if isinstance(observer, RolloutObserver) else None

    # -- the rollout ----------------------------------------------------------------------------

    async def advance(self, live: Endpoint) -> None:
        plan = self.plan
        split = rollout.traffic(live.body)
        where = rollout.position(plan, rollout.decode(live.live_status.rollout_tag), split)
        index = where.next_index
        if not where.judged:
            share = split.get(plan.entity, 0)
            since = where.live_since_ms
            if since is None:  # it went live while nobody watched: its pause starts now
                since = self._now_ms()
                await self._write_state(Phase.LIVE, share, at_ms=since)
            if not await self._judge(index, share, since):
                return
        while index < len(plan.steps):
            step = plan.steps[index]
            if self.ctx.max_steps is not None and self.started >= self.ctx.max_steps:
                self._leave(
                    index,
                    f"{self._where(index + 1, step.share)} is next; --max-steps reached: run "
                    "apply again to set it",
                )
                return
            await self._set_step(index)
            if self.run.pending:
                return  # --no-wait: the step's update was sent and not waited for
            index += 1
            since = self._now_ms()
            await self._write_state(Phase.LIVE, step.share, at_ms=since)
            self._emit(RolloutEventKind.LIVE, index, until_ms=self._due_ms(since))
            if not await self._judge(index, step.share, since):
                return
        await self._complete()

    async def _set_step(self, index: int) -> None:
        """Set step `index` (0-based): state `next`, PUT, wait until it settles READY; a step
        whose update fails to deploy is rolled back like a failed gate."""
        step = self.plan.steps[index]
        await self._write_state(Phase.NEXT, step.share)
        live = await self._settled()
        desired = self._resolved(live).body["config"]
        config = rollout.step_config(desired, _config(live), step.split)
        self._emit(RolloutEventKind.STEP, index + 1, split=step.split)
        self.started += 1
        try:
            await self.run.send_config(self._with_config(config), live)
        except steps.Failed as failed:
            fresh = await self.run.settled()
            if fresh is None or not fresh.live_status.failed:
                raise
            lines = str(failed).splitlines()
            breach = Breach(check=Check.DEPLOY, detail=lines[1] if len(lines) > 1 else lines[0])
            await self.roll_back(breach, share=step.share)
        if self.ctx.no_wait:
            self.run.pending = (
                f"{self._where(index + 1, step.share)} was sent and not waited for (--no-wait); "
                "run apply again to go on"
            )

    async def _judge(self, index: int, share: int, since_ms: int) -> bool:
        """Observe and judge the live position (step `index`, 1-based, at `share`) that went
        live at `since_ms`. True when it passed; False when this run leaves it for a later
        one; when it failed, rolls back (which raises)."""
        plan = self.plan
        due_ms = self._due_ms(since_ms)
        if self.ctx.no_wait:
            self._leave(index, self._come_back(index, share, due_ms))
            return False
        may_wait = self.ctx.max_steps is None
        scraping = needs_metrics(plan.gates)
        window = Window(since_ms=since_ms)
        # Too little traffic: the window may grow for one more pause (at least a minute) past
        # the later of the pause's end and this run's first look.
        deadline_ms = max(due_ms, self._now_ms()) + self._extension_ms()
        self.run.note = f"during the pause of step {index}/{len(plan.steps)}"
        while True:
            now_ms = self._now_ms()
            seen = len(window.minutes)
            if scraping:
                text = await self.ctx.api.export_metrics(self.name)
                fallback = now_ms // MINUTE_MS * MINUTE_MS
                window = window.add(
                    parse_export(text, entity=plan.entity, fallback_end_ms=fallback)
                )
            judgment = judge(
                window, plan.gates, due=now_ms >= due_ms, deadline=now_ms >= deadline_ms
            )
            decided = judgment.verdict is not Verdict.OBSERVING
            if scraping and (decided or len(window.minutes) > seen):
                self._emit(RolloutEventKind.GATE, index, judgment=judgment, until_ms=due_ms)
            elif not scraping and decided:
                self._emit(RolloutEventKind.GATE, index, message="no gates: the pause is over")
            if judgment.verdict is Verdict.PASS:
                self.run.note = ""
                return True
            if judgment.verdict in (Verdict.FAIL, Verdict.TOO_LITTLE):
                await self.roll_back(judgment.breaches[0], share=share)
            if now_ms < due_ms and not may_wait:
                self._leave(index, self._come_back(index, share, due_ms))
                return False
            await self._sleep_until(self._next_look(now_ms, due_ms, scraping=scraping))

    async def roll_back(self, breach: Breach, *, share: int) -> None:
        """Restore the split from before the rollout, record why, and fail the action."""
        plan = self.plan
        index = next((i + 1 for i, s in enumerate(plan.steps) if s.share == share), 0)
        self.run.note = "while rolling back"
        await self._write_state(Phase.ROLLBACK, share, failure=breach)
        self._emit(RolloutEventKind.ROLLBACK, index, split=plan.before, message=breach.describe())
        live = await self._settled()
        config = _config(live)
        missing = rollout.missing_from(config, plan.before)
        if missing:
            raise steps.Failed(
                f"{breach.describe()}; cannot restore {rollout.describe_split(plan.before)}: "
                f"{', '.join(missing)} is no longer served (changed outside servingops?)"
            )
        restored = rollout.rollback_config(config, plan.before)
        if rollout.traffic(live.body) != rollout.traffic({"config": restored}):
            await self.run.send_config(self._with_config(restored), live)
        await self._write_state(Phase.ROLLED_BACK, share, at_ms=self._now_ms(), failure=breach)
        self._emit(RolloutEventKind.ROLLED_BACK, index, split=plan.before)
        self.run.note = ""
        raise steps.Failed(
            f"rolled back at {self._where(index, share)}: {breach.describe()}; "
            f"{rollout.describe_split(plan.before)} serves again"
        )

    async def _complete(self) -> None:
        """The last step passed: the file's exact config (dropping the entities kept for a
        rollback; nothing is sent when it is live already), then the state is cleared."""
        live = await self._settled()
        await self.run.send_config(self._resolved(live), live)
        await clear_state(self.run)
        self._emit(RolloutEventKind.COMPLETE, len(self.plan.steps), split=self.plan.after)

    # -- small steps ----------------------------------------------------------------------------

    async def _write_state(
        self, phase: str, share: int, *, at_ms: int | None = None, failure: Breach | None = None
    ) -> None:
        state = rollout.state_for(
            self.plan,
            phase=phase,
            share=share,
            at_s=None if at_ms is None else at_ms // 1000,
            failure=failure,
        )
        tag = [{"key": ROLLOUT_TAG, "value": rollout.encode(state)}]
        await self.run.write(
            "PATCH tags", lambda: self.ctx.api.patch_tags(self.name, add=tag, delete=[])
        )

    async def _settled(self) -> Endpoint:
        live = await self.run.settled()
        if live is None:
            raise steps.Failed("the endpoint disappeared during its rollout")
        return live

    def _resolved(self, live: Endpoint) -> Endpoint:
        """The desired endpoint with what the server chose for fields the file leaves out
        (entities that were not live at plan time have such fields by now)."""
        return normalize.resolve_server_chosen(self.after, live)

    def _with_config(self, config: Mapping[str, Any]) -> Endpoint:
        return replace(self.after, body={**self.after.body, "config": config})

    def _leave(self, index: int, message: str) -> None:
        self.run.pending = message
        self.run.note = ""
        self._emit(RolloutEventKind.PAUSED, index, message=message)

    def _come_back(self, index: int, share: int, due_ms: int) -> str:
        return (
            f"{self._where(index, share)} is live; its gates are due at "
            f"{rollout.format_clock(due_ms)}: run apply again then"
        )

    def _where(self, index: int, share: int) -> str:
        """`step 2/4 (challenger 25%)`, or `the live split (...)` between steps."""
        what = f"({self.plan.entity} {share}%)"
        return f"step {index}/{len(self.plan.steps)} {what}" if index else f"the live split {what}"

    def _due_ms(self, since_ms: int) -> int:
        """When a step live since `since_ms` may be judged: after its pause, and (when gates
        read the metrics) once the first minute that began after it went live is complete."""
        due = since_ms + int(self.plan.pause_seconds * 1000)
        if needs_metrics(self.plan.gates):
            first_full = (since_ms // MINUTE_MS + 1) * MINUTE_MS + MINUTE_MS
            due = max(due, first_full)
        return due

    def _extension_ms(self) -> int:
        return max(int(self.plan.pause_seconds * 1000), MINUTE_MS)

    def _next_look(self, now_ms: int, due_ms: int, *, scraping: bool) -> int:
        """The next minute's end (the export then holds it), or the pause's end without gates."""
        if not scraping:
            return due_ms
        return (now_ms // MINUTE_MS + 1) * MINUTE_MS + int(SCRAPE_OFFSET * 1000)

    async def _sleep_until(self, when_ms: int) -> None:
        delay = max(0.0, (when_ms - self._now_ms()) / 1000)
        await self.ctx.wait.sleep(delay)

    def _now_ms(self) -> int:
        return int(self.ctx.wait.wall_clock() * 1000)

    def _emit(
        self,
        kind: RolloutEventKind,
        step: int,
        *,
        split: Mapping[str, int] | None = None,
        until_ms: int | None = None,
        judgment: Judgment | None = None,
        message: str = "",
    ) -> None:
        if self.events is None:
            return
        plan = self.plan
        shown = split if split is not None else (plan.steps[step - 1].split if step else {})
        self.events.rollout(
            self.run.action,
            RolloutEvent(
                kind=kind,
                entity=plan.entity,
                step=step,
                steps=len(plan.steps),
                split=shown,
                elapsed=self.ctx.wait.clock() - self.run.began,
                until_ms=until_ms,
                judgment=judgment,
                message=message,
            ),
        )


def _config(live: Endpoint) -> Mapping[str, Any]:
    config = live.body.get("config")
    return config if isinstance(config, Mapping) else {}
