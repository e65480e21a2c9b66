"""The seams to the engines: answer verification and step scoring, in process or through a server.

Each engine is a small class with batch methods, so the pipeline does not care where the work runs:
``LocalVerifier`` calls :func:`verifier.verify_batch` (a process pool, all cores by default),
``RemoteVerifier`` calls a running ``mathreward serve`` through :class:`mathreward.Client`;
``LocalStepScorer`` loads a PRM with :meth:`prm.ProcessRewardModel.from_pretrained`,
``RemoteStepScorer`` asks the server's PRM.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from verifier import Verdict, VerifyConfig

PRM_SERVICE = "mathreward.v1.ProcessRewardService"  # its health reads SERVING once the weights are loaded

# one scored response: (step scores, aggregate), or the reason it could not be scored
StepResult = tuple[list[float], float] | str


class VerifyEngine(Protocol):
    def verify_batch(
        self, pairs: Sequence[tuple[str, str]], questions: Sequence[str | None] | None = None
    ) -> list[Verdict]: ...

    def split(self, n: int) -> list[VerifyEngine]:
        """At most n engines to use at the same time, from as many threads, whose total parallelism is
        this engine's (``--workers 4`` split in two is 2 + 2)."""
        ...

    def close(self) -> None: ...


class StepScorer(Protocol):
    def score_batch(self, items: Sequence[tuple[str, str]]) -> list[StepResult]: ...

    def close(self) -> None: ...


class LocalVerifier:
    """verify_batch in this process's sandbox pool."""

    def __init__(self, config: VerifyConfig | None = None, workers: int | None = None) -> None:
        from verifier import VerifyConfig

        self.config = config if config is not None else VerifyConfig()
        self.workers = workers

    def verify_batch(
        self, pairs: Sequence[tuple[str, str]], questions: Sequence[str | None] | None = None
    ) -> list[Verdict]:
        from verifier import verify_batch

        return list(verify_batch(pairs, questions=questions, config=self.config, workers=self.workers))

    def split(self, n: int) -> list[VerifyEngine]:
        if self.workers is None:  # all cores: the pool itself bounds the calls in flight together
            return [self] * n
        n = max(1, min(n, self.workers))
        shares = [self.workers // n + (1 if i < self.workers % n else 0) for i in range(n)]
        return [LocalVerifier(self.config, workers=k) for k in shares]

    def close(self) -> None:
        return None


class RemoteVerifier:
    """verify_batch on a running ``mathreward serve`` (its own config, judge included, applies)."""

    def __init__(self, target: str, *, connect_timeout_s: float = 30.0) -> None:
        from mathreward.client import Client

        self.target = target
        self.client: Any = Client(target)
        try:
            self.client.wait_ready("", timeout=connect_timeout_s)
        except Exception as e:
            self.client.close()
            raise ConnectionError(f"no mathreward server answers at {target}: {e}") from e

    def verify_batch(
        self, pairs: Sequence[tuple[str, str]], questions: Sequence[str | None] | None = None
    ) -> list[Verdict]:
        if not pairs:
            return []
        qs = None if questions is None else list(questions)
        return list(self.client.verify_batch(list(pairs), questions=qs))

    def split(self, n: int) -> list[VerifyEngine]:
        return [self] * n  # the server bounds its own parallelism

    def close(self) -> None:
        close = getattr(self.client, "close", None)
        if callable(close):
            close()


def _split(text: str, mode: str) -> list[str]:
    from prm import split_steps

    return [s for s in split_steps(text, mode=mode) if s.strip()]  # type: ignore[arg-type]


class LocalStepScorer:
    """A PRM loaded in this process; scores (question, response) pairs, steps split by ``split_steps``."""

    def __init__(
        self, path: str, *, aggregate: str = "min", step_mode: str = "auto", device: str = "auto"
    ) -> None:
        from prm import ProcessRewardModel

        self.model: Any = ProcessRewardModel.from_pretrained(path, device=device)
        self.aggregate = aggregate
        self.step_mode = step_mode

    def score_batch(self, items: Sequence[tuple[str, str]]) -> list[StepResult]:
        import prm

        prepared: list[tuple[str, list[str]]] = []
        out: list[StepResult | None] = [None] * len(items)
        index: list[int] = []
        for i, (question, response) in enumerate(items):
            steps = _split(response, self.step_mode)
            if not steps:
                out[i] = "no steps: the response is empty"
                continue
            prepared.append((question, steps))
            index.append(i)
        # a bad item (too long, ...) takes its own error's place; the rest stay one batched call
        results: list[Any] = self.model.score_batch(prepared, return_errors=True) if prepared else []
        for i, r in zip(index, results, strict=True):
            if isinstance(r, prm.PRMError):
                out[i] = f"{type(r).__name__}: {r}"
            else:
                out[i] = (list(r.scores), float(r.aggregate(self.aggregate)))
        return [r if r is not None else "not scored" for r in out]

    def close(self) -> None:
        return None


class RemoteStepScorer:
    """Step scores from the PRM of a running ``mathreward serve``."""

    def __init__(
        self, target: str, *, aggregate: str = "min", step_mode: str = "auto", ready_timeout_s: float = 120.0
    ) -> None:
        from mathreward.client import Client

        self.client: Any = Client(target)
        try:  # the server loads its PRM in the background: wait until its health reads SERVING
            self.client.wait_ready(PRM_SERVICE, timeout=ready_timeout_s)
        except Exception as e:
            self.client.close()
            raise ConnectionError(
                f"the PRM of the server at {target} is not serving after {ready_timeout_s:g} s "
                f"(was it started with --prm-model?): {e}"
            ) from e
        self.aggregate = aggregate
        self.step_mode = step_mode

    def score_batch(self, items: Sequence[tuple[str, str]]) -> list[StepResult]:
        if not items:
            return []
        # the server splits each response into steps with the same split_steps modes
        results = self.client.score_steps_batch(
            list(items), aggregation=self.aggregate, split_mode=self.step_mode
        )
        out: list[StepResult] = []
        for r in results:
            if hasattr(r, "scores"):
                out.append((list(r.scores), float(r.aggregate(self.aggregate))))
            else:  # the server refused this item (an ItemError): its reason is the result
                out.append(f"{type(r).__name__}: {r}")
        return out

    def close(self) -> None:
        close = getattr(self.client, "close", None)
        if callable(close):
            close()
