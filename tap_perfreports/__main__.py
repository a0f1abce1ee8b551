from tap_perfreports.tap import main

main()
