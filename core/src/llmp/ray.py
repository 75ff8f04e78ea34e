"""Big jobs on Ray Data: one `llmp.LLM` per actor, the answers as columns.

```python
import ray
import llmp.ray

ds = ray.data.read_parquet("questions.parquet")
out = llmp.ray.generate(ds, "gpt-4.1-mini", prompt_column="question", cache="redis://cache:6379/0")
out = out.materialize()
llmp.ray.usage(out)  # JobUsage(rows=..., cost=...)
```

- `generate(ds, model, ...)`: ``ds.map_batches`` with `LLMPredictor`, every argument and
  column checked on the driver first.
- `LLMPredictor`: the callable class, for calling ``map_batches`` yourself.
- `usage(ds)`: the job's rows, tokens and cost from the output columns; `job_usage(job)`: the
  same live, from Redis, while the job runs (``job="name"``).

Needs ``pip install "llmp-core[ray]"`` (and ``[redis]`` for a Redis cache or `job_usage`).
``import llmp`` never imports this module, and this module imports Ray only when
`generate` or `usage` runs. The guide: docs/scaling-out.md.
"""

from __future__ import annotations

from llmp._ray._generate import generate, job_usage, usage
from llmp._ray._predictor import LLMPredictor
from llmp._ray._usage import JobUsage

__all__ = ["JobUsage", "LLMPredictor", "generate", "job_usage", "usage"]
