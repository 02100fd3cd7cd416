from eg_harness.cli import main

raise SystemExit(main())
