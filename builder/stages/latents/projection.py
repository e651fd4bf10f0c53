"""Low-rank projections of turn observations: pca (default), svd, nmf and a small vae.

Each method is fitted once per build, then reduced to plain arrays (`tensors()`) from which
`transform` is computed; the saved coordinator holds exactly those arrays, so a reloaded coordinator
projects new observations the same way the build did.
- pca: centred; z = (x - mean) W^T with sklearn's PCA (eigendecomposition of the covariance, which is
  fast when turns outnumber features; deterministic signs).
- svd: uncentred truncated SVD; z = x W^T (randomized solver, seeded).
- nmf: NMF needs non-negative input, so x is split into its positive and negative parts,
  x+ = max(x, 0) and x- = max(-x, 0) (x = x+ - x-, an exact, documented transform, doubling the width);
  z solves min ||[x+, x-] - z H|| with z >= 0 for the fitted H (coordinate descent, deterministic start).
- vae: a bottleneck autoencoder (3d -> 128 -> rank -> 128 -> 3d, tanh) on standardised inputs, trained
  with Adam on reconstruction + a small KL term, seeded; z is the encoder's mean.
`reconstruction_r2` = 1 - ||X - X_hat||^2 / ||X - mean(X)||^2 for every method; `explained_variance`
is sklearn's explained-variance ratio for pca and svd (null for the others).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from functools import cached_property

import numpy as np

METHODS = ("pca", "svd", "nmf", "vae")  # the --projection choices, named once (builder.config reads them)


class Projection(ABC):
    method: str

    def __init__(self, tensors: dict[str, np.ndarray], rank: int):
        self.tensors_ = {name: np.ascontiguousarray(value, dtype=np.float32) for name, value in tensors.items()}
        self.rank = rank
        self.explained_variance: float | None = None

    def tensors(self) -> dict[str, np.ndarray]:
        return dict(self.tensors_)

    @abstractmethod
    def transform(self, observations: np.ndarray) -> np.ndarray:
        """[n, features] -> [n, rank] float32."""

    @abstractmethod
    def reconstruct(self, latents: np.ndarray) -> np.ndarray:
        """[n, rank] -> [n, features]: the observation the latent stands for."""

    def reconstruction_r2(self, observations: np.ndarray, chunk: int = 1024) -> float:
        # In chunks of rows: the float64 copies and reconstructions of a few thousand 1,152-wide observations
        # would otherwise be the build's largest transient allocation.
        mean = np.mean(observations, axis=0, dtype=np.float64)
        residual = spread = 0.0
        for start in range(0, len(observations), chunk):
            part = observations[start:start + chunk]
            x = np.asarray(part, dtype=np.float64)
            residual += float(((x - self.reconstruct(self.transform(part))) ** 2).sum())
            spread += float(((x - mean) ** 2).sum())
        return float(1.0 - residual / spread) if spread > 0 else 1.0


class PcaProjection(Projection):
    method = "pca"

    @classmethod
    def fit(cls, x: np.ndarray, rank: int, seed: int) -> "PcaProjection":
        from sklearn.decomposition import PCA

        # copy=False: no copy of x on validation (the covariance solver reads x as it is and centres the small
        # covariance matrix instead); fit_projection's float64 conversion is the fit's one full-size copy.
        pca = PCA(n_components=rank, svd_solver="covariance_eigh", copy=False).fit(x)
        projection = cls({"mean": pca.mean_, "components": pca.components_}, rank)
        projection.explained_variance = float(pca.explained_variance_ratio_.sum())
        return projection

    def transform(self, x):
        centred = np.asarray(x, np.float64) - self.tensors_["mean"].astype(np.float64)
        return (centred @ self.tensors_["components"].astype(np.float64).T).astype(np.float32)

    def reconstruct(self, z):
        return z @ self.tensors_["components"] + self.tensors_["mean"]


class SvdProjection(Projection):
    method = "svd"

    @classmethod
    def fit(cls, x, rank, seed):
        from sklearn.decomposition import TruncatedSVD

        svd = TruncatedSVD(n_components=rank, algorithm="randomized", n_iter=7, random_state=seed).fit(x)
        projection = cls({"components": svd.components_}, rank)
        projection.explained_variance = float(svd.explained_variance_ratio_.sum())
        return projection

    def transform(self, x):
        return (np.asarray(x, np.float64) @ self.tensors_["components"].astype(np.float64).T).astype(np.float32)

    def reconstruct(self, z):
        return z @ self.tensors_["components"]


def split_signs(x: np.ndarray) -> np.ndarray:
    """The non-negative transform for NMF: [max(x, 0), max(-x, 0)]."""
    x = np.asarray(x, dtype=np.float32)
    return np.concatenate([np.maximum(x, 0), np.maximum(-x, 0)], axis=1)


class NmfProjection(Projection):
    method = "nmf"
    MAX_ITER = 500

    @classmethod
    def fit(cls, x, rank, seed):
        from sklearn.decomposition import NMF

        nmf = NMF(n_components=rank, init="nndsvda", max_iter=cls.MAX_ITER, random_state=seed).fit(split_signs(x))
        return cls({"components": nmf.components_}, rank)

    def transform(self, x):
        from sklearn.decomposition import non_negative_factorization

        components = self.tensors_["components"].astype(np.float64)
        w, _, _ = non_negative_factorization(split_signs(x).astype(np.float64), H=components, n_components=self.rank,
                                             update_H=False, max_iter=self.MAX_ITER, init=None)
        return w.astype(np.float32)

    def reconstruct(self, z):
        doubled = z @ self.tensors_["components"]
        half = doubled.shape[1] // 2
        return doubled[:, :half] - doubled[:, half:]


class VaeProjection(Projection):
    method = "vae"
    HIDDEN = 128
    EPOCHS = 60
    BATCH = 128
    KL_WEIGHT = 1e-3

    @staticmethod
    def _modules(features: int, rank: int):
        import torch

        encoder = torch.nn.Sequential(torch.nn.Linear(features, VaeProjection.HIDDEN), torch.nn.Tanh(),
                                      torch.nn.Linear(VaeProjection.HIDDEN, 2 * rank))
        decoder = torch.nn.Sequential(torch.nn.Linear(rank, VaeProjection.HIDDEN), torch.nn.Tanh(),
                                      torch.nn.Linear(VaeProjection.HIDDEN, features))
        return encoder, decoder

    @classmethod
    def fit(cls, x, rank, seed):
        import torch

        x = np.asarray(x, dtype=np.float32)
        mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-6
        data = torch.from_numpy((x - mean) / scale)
        torch.manual_seed(seed)
        generator = torch.Generator().manual_seed(seed)
        encoder, decoder = cls._modules(x.shape[1], rank)
        optimiser = torch.optim.Adam([*encoder.parameters(), *decoder.parameters()], lr=2e-3)
        for _ in range(cls.EPOCHS):
            for batch in torch.randperm(len(data), generator=generator).split(cls.BATCH):
                mu, log_var = encoder(data[batch]).chunk(2, dim=1)
                noise = torch.randn(mu.shape, generator=generator)
                decoded = decoder(mu + noise * torch.exp(0.5 * log_var))
                kl = -0.5 * (1 + log_var - mu.pow(2) - log_var.exp()).sum(dim=1).mean()
                loss = torch.nn.functional.mse_loss(decoded, data[batch], reduction="sum") / len(batch)
                optimiser.zero_grad()
                (loss + cls.KL_WEIGHT * kl).backward()
                optimiser.step()
        tensors = {"input_mean": mean, "input_scale": scale}
        tensors |= {f"encoder.{k}": v.detach().numpy() for k, v in encoder.state_dict().items()}
        tensors |= {f"decoder.{k}": v.detach().numpy() for k, v in decoder.state_dict().items()}
        return cls(tensors, rank)

    @cached_property
    def _loaded(self):
        import torch

        encoder, decoder = self._modules(self.tensors_["input_mean"].shape[0], self.rank)
        for prefix, module in (("encoder.", encoder), ("decoder.", decoder)):
            module.load_state_dict({k[len(prefix):]: torch.from_numpy(v) for k, v in self.tensors_.items()
                                    if k.startswith(prefix)})
        return encoder, decoder

    def transform(self, x):
        import torch

        encoder, _ = self._loaded
        standardised = (np.asarray(x, np.float32) - self.tensors_["input_mean"]) / self.tensors_["input_scale"]
        with torch.no_grad():
            mu, _ = encoder(torch.from_numpy(standardised)).chunk(2, dim=1)
        return mu.numpy().astype(np.float32)

    def reconstruct(self, z):
        import torch

        _, decoder = self._loaded
        with torch.no_grad():
            decoded = decoder(torch.from_numpy(np.asarray(z, np.float32))).numpy()
        return decoded * self.tensors_["input_scale"] + self.tensors_["input_mean"]


PROJECTIONS: dict[str, type[Projection]] = {
    "pca": PcaProjection, "svd": SvdProjection, "nmf": NmfProjection, "vae": VaeProjection,
}


def fit_projection(method: str, observations: np.ndarray, rank: int, seed: int) -> Projection:
    """Fit `method` on the build's turn observations.

    The fit runs in float64 with single-threaded BLAS: LAPACK results otherwise shift in the last float32
    digits with the thread layout, which changes when torch happens to be imported (a cold embedding
    cache loads the model, a warm one does not), and builds must be byte-identical either way.
    """
    from threadpoolctl import threadpool_limits

    if method not in PROJECTIONS:
        raise ValueError(f"unknown projection method {method!r} (choose from {', '.join(METHODS)})")
    samples, features = observations.shape
    if rank < 1 or rank > min(samples, features):
        raise ValueError(f"rank {rank} needs at least {rank} turn observations; this build has {samples} "
                         f"(pass a smaller --rank, at most {min(samples, features)})")
    with threadpool_limits(limits=1):
        return PROJECTIONS[method].fit(np.asarray(observations, dtype=np.float64), rank, seed)
