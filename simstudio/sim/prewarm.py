"""Importing this module warms the renderer (`render.warm_up`): an export's process pool preloads it in
its fork server, so every worker starts with the kernels loaded and the texture bank built instead of
paying for both itself."""

from simstudio.sim.render import warm_up

WARM_UP_SECONDS = warm_up()
