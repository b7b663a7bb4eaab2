from lmar.cli import main

raise SystemExit(main())
