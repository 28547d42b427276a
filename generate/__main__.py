from generate.cli import main

main()
