"""Accessibility audits for the browser tests: axe-core (the engine behind browsers' own audits) run in a page.

axe-core comes from npm into the git-ignored .axe/ folder (`make axe`, which `make test` runs). A test fails on any
serious or critical violation and names the moderate and minor ones in its message, so they are seen, not hidden.
Not a test module.

Example::

    violations = axe_violations(page, ".labkit-app")
    assert not blocking(violations), describe(violations)
"""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page
from serving import REPO_ROOT

AXE_JS = REPO_ROOT / ".axe" / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING = ("serious", "critical")  # axe's two highest impacts: a test fails on these


def axe_violations(page: Page, within: str | None = None, script: Path = AXE_JS) -> list[dict]:
    """Run axe-core on ``page`` (or on the elements ``within`` selects) and return its violations.

    Each violation: ``id`` (axe's rule), ``impact`` ("minor" to "critical"), ``help`` (what is wrong, in words),
    and ``nodes`` (how many elements break the rule; ``targets``: the first few, as CSS selectors).
    """
    if not script.is_file():
        raise FileNotFoundError(f"axe-core is not installed at {script}: run `make axe` (npm).")
    page.add_script_tag(path=str(script))
    return page.evaluate(
        """async (within) => {
            const context = within ? { include: [...document.querySelectorAll(within)] } : document;
            const result = await axe.run(context, { resultTypes: ["violations"] });
            return result.violations.map((rule) => ({
                id: rule.id,
                impact: rule.impact,
                help: rule.help,
                nodes: rule.nodes.length,
                targets: rule.nodes.slice(0, 5).map((node) => node.target.join(" ")),
            }));
        }""",
        within,
    )


def blocking(violations: list[dict]) -> list[dict]:
    """The serious and critical violations: what keeps someone from using the page."""
    return [violation for violation in violations if violation["impact"] in BLOCKING]


def describe(violations: list[dict]) -> str:
    """One line per violation, most severe first, for an assertion's message."""
    order = {"critical": 0, "serious": 1, "moderate": 2, "minor": 3}
    lines = [
        f"{violation['impact']}: {violation['id']} ({violation['help']}), {violation['nodes']} element(s): "
        f"{', '.join(violation['targets'])}"
        for violation in sorted(violations, key=lambda violation: order.get(violation["impact"], 4))
    ]
    return "\n".join(lines) or "no violations"
