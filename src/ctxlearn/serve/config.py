"""Settings of ``ctxlearn serve``: one typed field per flag, checked where they are made."""
from __future__ import annotations

from dataclasses import dataclass

from ctxlearn.config import opt
from ctxlearn.errors import ConfigError


@dataclass
class ServeConfig:
    host: str = opt("127.0.0.1", "address to listen on; anything beyond loopback needs --api-key-file")
    port: int = opt(8000, "TCP port (0 = any free port)")
    api_key_file: str | None = opt(None, "file holding the API key; clients then send `Authorization: Bearer KEY` "
                                         "(left unset: no key, and only loopback addresses may be served)")
    max_batch_size: int = opt(32, "most texts the model runs at once (requests arriving together share a batch)")
    max_wait_ms: float = opt(5.0, "longest an idle server waits for more requests to fill a batch")
    max_queue: int = opt(128, "most texts waiting for the model (it bounds queueing delay and memory); beyond it 429")
    max_texts: int = opt(64, "most texts (or pairs, or token lists) in one request; more get 413")
    max_chars: int = opt(10000, "most characters in one text (in each side of a pair); longer get 413")
    threads: int = opt(0, "CPU threads for torch (0 = its default)")
    drain_seconds: float = opt(30.0, "on shutdown, how long requests in flight may take to finish")
    log_texts: bool = opt(False, "write request texts to the log (off: logs hold sizes and timings only)")
    threshold: str | None = opt(None, "label a text CLASS once its probability reaches P (CLASS=P, e.g. spam=0.27), "
                                      "else the most probable other class (default: the most probable class); "
                                      "one class, once", once=True)

    def __post_init__(self) -> None:
        positive = {"max_batch_size": self.max_batch_size, "max_queue": self.max_queue,
                    "max_texts": self.max_texts, "max_chars": self.max_chars}
        for name, value in positive.items():
            if value < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be at least 1, not {value}")
        if self.max_wait_ms < 0 or self.drain_seconds < 0 or self.threads < 0 or not 0 <= self.port < 65536:
            raise ConfigError("--max-wait-ms, --drain-seconds and --threads must be >= 0 and --port in 0..65535")
        if self.max_queue < self.max_texts:
            raise ConfigError(f"--max-queue ({self.max_queue}) must hold at least one full request "
                              f"(--max-texts {self.max_texts})")

    @property
    def max_body_bytes(self) -> int:
        """Largest request body read: a request at both limits, every character a 6-byte JSON escape, two
        texts per item (pairs), plus room for the JSON around them. Bigger bodies get 413 unread."""
        return 2 * 6 * self.max_texts * self.max_chars + 65536
