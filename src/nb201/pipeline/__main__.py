"""`python -m nb201.pipeline --profile NAME`: run a profile's notebooks."""

from nb201.pipeline import main

raise SystemExit(main())
