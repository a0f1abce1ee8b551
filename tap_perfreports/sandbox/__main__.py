from tap_perfreports.sandbox.server import main

main()
