from eventeye.cli import main

main()
