"""The rule registry: an alert manager's rules by name, and what adding, replacing or removing one sets going.

A metric rule that is added starts watching its metric's samples (`zgen_otel.alerting.evaluator`); a rule
that is removed or disabled has its alerts resolved; a removed custom rule's condition is forgotten by the
condition runner (`zgen_otel.alerting.conditions`).
"""

from __future__ import annotations

from zgen_otel._util import safe_repr
from zgen_otel.alerting.conditions import ConditionRunner
from zgen_otel.alerting.evaluator import RuleEvaluator
from zgen_otel.alerting.rules import CustomRule, MetricRule, RuleState
from zgen_otel.exceptions import DefinitionError, NotFoundError

__all__ = ["Rule", "RuleRegistry"]

#: A rule of either kind.
Rule = MetricRule | CustomRule


class RuleRegistry:
    """The rules of one alert manager, by name.

    Not thread-safe: the alert manager calls it under its lock (the one ``evaluator`` shares).

    Args:
        evaluator: runs the rules: it watches a metric rule's samples and resolves a rule's alerts.
        conditions: runs the custom rules' conditions: it forgets the condition of a removed rule.
    """

    def __init__(self, evaluator: RuleEvaluator, conditions: ConditionRunner) -> None:
        self._rules: dict[str, Rule] = {}
        self._evaluator = evaluator
        self._conditions = conditions

    def add(self, rule: Rule, replace: bool, now: float) -> None:
        """Add a checked rule; with ``replace``, the rule of the same name is removed first (at ``now``).

        Raises:
            DefinitionError: a rule of that name exists and ``replace`` is False.
        """
        if rule.name in self._rules:
            if not replace:
                raise DefinitionError(f"a rule named {rule.name!r} exists; pass replace=True to replace it")
            self.remove(rule.name, now)
        self._rules[rule.name] = rule
        if isinstance(rule, MetricRule):
            self._evaluator.watch(rule)

    def remove(self, name: object, now: float) -> bool:
        """Remove a rule and resolve its alerts at ``now``; return whether it existed."""
        rule = self._rules.pop(name, None) if isinstance(name, str) else None  # a non-str is never a rule's name
        if rule is None:
            return False
        if isinstance(rule, MetricRule):
            self._evaluator.unwatch(rule)
        else:
            self._conditions.forget(rule)
        self._evaluator.reset(rule, now)
        return True

    def get(self, name: object) -> Rule:
        """The rule of that name.

        Raises:
            NotFoundError: no rule has that name (the message lists the rule names).
        """
        rule = self._rules.get(name) if isinstance(name, str) else None
        if rule is None:
            raise NotFoundError(f"no rule named {safe_repr(name)}; rules: {sorted(self._rules)}")
        return rule

    def by_name(self) -> list[Rule]:
        """Every rule, sorted by name."""
        return [self._rules[n] for n in sorted(self._rules)]

    def all(self) -> list[Rule]:
        """Every rule, in the order they were added."""
        return list(self._rules.values())

    def disable(self, name: object, now: float) -> None:
        """Stop evaluating a rule and resolve its alerts at ``now``.

        Raises:
            NotFoundError: no rule has that name.
        """
        rule = self.get(name)
        rule.enabled = False
        self._evaluator.reset(rule, now)

    def enabled_custom(self) -> list[CustomRule]:
        """The enabled custom rules, whose conditions run at the next tick."""
        return [r for r in self._rules.values() if isinstance(r, CustomRule) and r.enabled]

    def pending(self) -> list[Rule]:
        """A rule once for each of its series that is pending (its condition holds, not yet for ``duration``)."""
        return [r for r in self._rules.values() for s in r.states.values() if s.state is RuleState.PENDING]

    def overrunning(self) -> list[str]:
        """The names of the custom rules whose condition is still running past its tick, sorted."""
        return sorted(r.name for r in list(self._rules.values()) if isinstance(r, CustomRule) and r.overrun)
