from yolo10port.cli.app import main

main()
