// The handler from Flex's fulfillment guide, verbatim except for the port (PORT, default 4242).
// Run with stdout sent to /dev/null, as the benchmark does: console.log is part of the baseline.
const app = require("express")();
const bodyParser = require("body-parser");

app.post(
  "/webhook",
  bodyParser.raw({ type: "application/json" }),
  (req, res) => {
    console.log("Got payload:", req.body);
    res.status(200).end();
  }
);

const port = Number(process.env.PORT || 4242);
app.listen(port, "127.0.0.1", () => console.log(`Running on port ${port}`));
