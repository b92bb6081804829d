"""Face verification (1:1) and recognition (1:K) with learned embeddings.

An embedding network maps an image to a unit vector; two images show the same identity
when the squared L2 distance d = ||f(x_i) - f(x_j)||^2 of their embeddings is at most a
threshold tau. Modules (import the one you need; this package imports nothing heavy):

Model and training pieces
- :mod:`cnnkit.faces.embed`: :class:`EmbeddingNet` (trunk -> pool -> linear -> L2 norm)
  and :func:`build_embedder`.
- :mod:`cnnkit.faces.losses`: squared distances, the triplet loss, the contrastive loss.
- :mod:`cnnkit.faces.mining`: triplet selection in a batch (random, batch-all, batch-hard,
  semi-hard) and :func:`batch_triplet_loss`.
- :mod:`cnnkit.faces.sampler`: :class:`PKSampler`, batches of P identities x K images.
- :mod:`cnnkit.faces.pair_classifier`: the binary pair classifier on stored embeddings.

Data
- :mod:`cnnkit.faces.identities`: :class:`IdentitySet`, images with identity labels, and
  identity-respecting splits.
- :mod:`cnnkit.faces.identity_sources`: datasets by name (``fashion-mnist:0-6``,
  ``folder:PATH``, ``lfw``); :mod:`cnnkit.faces.identity_folder` and
  :mod:`cnnkit.faces.lfw` read the last two.
- :mod:`cnnkit.faces.pairs_file`: LFW's pairs-file format and balanced random pairs.

Verification and recognition
- :mod:`cnnkit.faces.verify`: ROC, AUC, EER, TAR at a FAR, accuracy, choosing tau.
- :mod:`cnnkit.faces.verify_plots`: the ROC curve and the distance histograms.
- :mod:`cnnkit.faces.gallery`: enroll identities into a gallery file, identify against it.
"""

__all__: list[str] = []
