"""The dashboard pages, one module each."""

from .data_page import DataPage
from .insertion import InsertionPage
from .overview import OverviewPage
from .partial import PartialPage
from .recognition import RecognitionPage
from .referential import ReferentialPage
from .territories import TerritoriesPage
from .vae import VaePage

PAGES = (OverviewPage, VaePage, PartialPage, RecognitionPage, InsertionPage, ReferentialPage,
         TerritoriesPage, DataPage)

__all__ = ["PAGES"]
