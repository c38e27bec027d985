from imbexp.app import main

main()
