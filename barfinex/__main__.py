from barfinex.cli import main

main()
