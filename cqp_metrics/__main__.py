"""python -m cqp_metrics"""

from .cli import main

main()
