"""Sphinx configuration: numpydoc API pages, a sphinx-gallery of examples, PyData theme.

Build with ``make docs`` (warnings are errors). Nothing is fetched from the network,
at build time or when the pages are read: no intersphinx, the examples use data that
ship with scikit-learn, and MathJax is bundled into ``_static/mathjax`` by
``sphinx-mathjax-offline`` instead of loaded from a CDN. ``make docs-check`` opens every
built page in headless Chromium with the network off to prove it.
"""

import warnings

import skcorrnet

project = "skcorrnet"
author = "skcorrnet developers"
copyright = "2026, skcorrnet developers"
release = version = skcorrnet.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx-mathjax-offline",  # serves MathJax 3 from _static: formulas render offline
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "matplotlib.sphinxext.plot_directive",
]

templates_path = ["_templates"]
exclude_patterns = ["_build"]
autosummary_generate = True
numpydoc_show_class_members = False  # the class page lists its methods itself
numpydoc_class_members_toctree = False

html_theme = "pydata_sphinx_theme"
html_title = f"skcorrnet {release}"
html_theme_options = {
    "navbar_end": ["navbar-icon-links"],
    "show_toc_level": 2,
}
# Without a default the theme logs "invalid theme mode" on a reader's first visit.
html_context = {"default_mode": "auto"}

plot_include_source = False
plot_html_show_source_link = False
plot_html_show_formats = False

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"demo_digits\.py",  # the `make demo` script, not an example page
    "download_all_examples": False,
    "remove_config_comments": True,
    "show_memory": False,
    "within_subsection_order": "FileNameSortKey",
    # The timing pages load jQuery and DataTables from a CDN: they would break offline.
    "write_computation_times": False,
}

# The examples fit models with few epochs on purpose; their convergence notes are
# not documentation.
warnings.filterwarnings("ignore", message="CorrNet reached max_iter")
warnings.filterwarnings("ignore", category=UserWarning, message="Matplotlib is currently")
