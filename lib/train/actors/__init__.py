"""Actors: per-family loss computation (`lib.train.actors.<script>` exposes build_actor(cfg, net, settings)
and optionally param_groups(net, cfg), build_dataloaders(cfg, settings), checkpoint_due(epoch, max_epochs)
and CHECKPOINT_NAME)."""
