"""The web app: give it a photo (upload, drop, paste, webcam or a sample) and see what the model thinks it shows.

``notebooks/dashboard.ipynb`` displays :func:`build_dashboard` and Voilà serves that notebook (``make app``; the
server's limits are in ``voila.json``, read from Voilà's current folder, so run it from the repository root). The
package, in the order its modules import each other:

- :mod:`~labkit.app.catalogue`: the models the picker offers (MobileNetV2 and every export in the models folder);
- :mod:`~labkit.app.pictures`: previews, the bar chart, data URLs;
- :mod:`~labkit.app.state`: :class:`DashboardApp`, the state with no widget in it, and :class:`Result` (data);
- :mod:`~labkit.app.views`: functions from the state to the HTML shown;
- :mod:`~labkit.app.widgets`: the anywidgets (drop zone, gallery, "Show where it looked", the page's landmarks),
  JS/CSS in ``static/``;
- :mod:`~labkit.app.page`: :func:`build_dashboard`, the page wired to the state.

The same state drives the page from Python, without a browser::

    >>> app = DashboardApp()                                            # doctest: +SKIP
    >>> app.classify_file("data/samples/954_banana.jpg").prediction.label  # doctest: +SKIP
    'banana'

``voila.json``'s settings and why: ``template`` "labkit" (``template/``: Voilà's lab template without its links to
a public CDN, so the page loads everything from the installation, offline too; the Makefile links it where Voilà
finds templates); ``websocket_max_message_size`` 100 MiB (FileUpload sends a whole selection as
one message; Tornado's 10 MiB default would drop one large phone photo; each photo is still limited to
:data:`MAX_UPLOAD_BYTES`); ``disable_check_xsrf`` (a closing tab's request to shut its kernel down has no
``_xsrf`` cookie); ``cull_idle_timeout`` 600 s and ``cull_interval`` 60 s (kernels that lost their tab are shut
down), ``cull_connected`` false (an open tab that is merely idle is spared); ``strip_sources`` (the page shows the
app, never the notebook's code); a pre-heated pool of 10 kernels with no refill timer (``fill_delay`` 0: with one, a
student arriving after the pool ran out was handed a replacement still waiting for it), whose refills
:mod:`~labkit.app.pool` starts once the class has arrived; ``VoilaExecutor.iopub_timeout`` 60 s (nbclient's 4 s
left pages empty when many kernels started at once); all measured and explained in docs/classroom.md. The
notebook's :func:`watch_kernel` tells a student whose kernel cannot show the app to reload, instead of leaving an
empty page. ``$LABKIT_MODEL`` / ``$LABKIT_MODELS_DIR`` choose the models
(:mod:`~labkit.app.catalogue`).
"""

from labkit.app.catalogue import (
    IMAGENET,
    MODEL_DESCRIPTION,
    ModelOption,
    available_models,
    exported_model,
    imagenet_model,
)
from labkit.app.page import build_dashboard, watch_kernel
from labkit.app.state import GENERIC_ERROR, MAX_UPLOAD_BYTES, DashboardApp, Result, too_large_error, where_it_looked
from labkit.app.views import card_html, problem_html, result_html, status_html
from labkit.app.widgets import GRADCAM_ERROR, DropZone, SampleGallery, Wayfinding, WhereItLooked

__all__ = [
    "GENERIC_ERROR",
    "GRADCAM_ERROR",
    "IMAGENET",
    "MAX_UPLOAD_BYTES",
    "MODEL_DESCRIPTION",
    "DashboardApp",
    "DropZone",
    "ModelOption",
    "Result",
    "SampleGallery",
    "Wayfinding",
    "WhereItLooked",
    "available_models",
    "build_dashboard",
    "card_html",
    "exported_model",
    "imagenet_model",
    "problem_html",
    "result_html",
    "status_html",
    "too_large_error",
    "watch_kernel",
    "where_it_looked",
]
