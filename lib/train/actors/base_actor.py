"""Base class of the training actors: an actor owns the network and turns a batch into (loss, stats)."""


class BaseActor:
    def __init__(self, net, settings=None, cfg=None):
        self.net = net
        self.settings = settings
        self.cfg = cfg

    def __call__(self, data):
        """data: the collated batch plus 'epoch' (1-based). Returns (loss tensor, dict of floats)."""
        raise NotImplementedError

    def to(self, device):
        self.net.to(device)
        return self

    def train(self, mode=True):
        self.net.train(mode)

    def eval(self):
        self.train(False)

    def on_epoch_start(self, epoch):
        """Hook for per-epoch schedules (e.g. CompressTracker's replacement probability)."""

    def on_checkpoint_saved(self, path, epoch):
        """Hook run on the main process after each scheduled checkpoint is written (e.g. release weights
        beside it)."""

    @property
    def unwrapped_net(self):
        """The network without a DistributedDataParallel wrapper."""
        return getattr(self.net, 'module', self.net)
