// Starts GraphiQL against this server's /graphql (POST, and the websocket for subscriptions).
(function () {
  var url = window.location.href.split("?")[0];
  var socket = new URL(url);
  socket.protocol = socket.protocol === "https:" ? "wss:" : "ws:";
  var fetcher = GraphiQL.createFetcher({ url: url, subscriptionUrl: socket.toString() });
  var root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultEditorToolsVisibility: true,
      isHeadersEditorEnabled: true,
      defaultHeaders: '{"Authorization": "Bearer <token from coins token viewer>"}',
      shouldPersistHeaders: false,
    })
  );
})();
