# [snippet:run]
keel-sim docs/snippets/simulator/payments-outage.yaml                  # the summary
keel-sim docs/snippets/simulator/payments-outage.yaml --json out.json  # the same as JSON
keel-sim docs/snippets/simulator/payments-outage.yaml --trace out.csv  # every attempt
keel-sim docs/snippets/simulator/payments-outage.yaml --plot out.svg   # or out.png
keel-sim docs/snippets/simulator/payments-outage.yaml --seed 2         # another draw
# [end]
