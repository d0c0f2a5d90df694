// Starts GraphiQL for `GET /graphql` (index.html). A file of its own rather than an inline
// script, so that the page's Content-Security-Policy allows scripts from 'self' only.
(function () {
  'use strict';

  var PLACEHOLDER = 'Bearer <token>';
  var HINT =
    'Put your token in the Headers tab: {"Authorization": "Bearer <token>"} ' +
    '(`afterclass serve --demo` prints tokens; `afterclass token --sub ada --role instructor --tenant demo` mints one), ' +
    'then run the operation again, and re-fetch the schema (Shift-Ctrl-R) for the docs and completion.';
  var DEFAULT_QUERY =
    '# Afterclass: put your token in the Headers tab\n' +
    '# below, then run this query (Ctrl-Enter).\n' +
    'query Viewer {\n' +
    '  viewer {\n' +
    '    person { externalId displayName }\n' +
    '    role\n' +
    '    tenantId\n' +
    '  }\n' +
    '}\n';

  var send = GraphiQL.createFetcher({
    url: '/graphql',
    // The headers editor's JSON is the `connection_init` payload, which the server reads the
    // token from (browsers cannot put headers on a websocket).
    subscriptionUrl: (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/graphql/ws',
    enableIncrementalDelivery: false,
  });

  function authorization(headers) {
    if (!headers) return null;
    for (var name in headers) {
      if (name.toLowerCase() === 'authorization') return String(headers[name]);
    }
    return null;
  }

  // Every request without a real token would be refused (401): say what to do instead.
  function fetcher(params, options) {
    var value = authorization(options && options.headers);
    if (!value || value.trim() === '' || value.indexOf('<token>') !== -1) {
      return Promise.resolve({ errors: [{ message: HINT }] });
    }
    return send(params, options);
  }

  ReactDOM.createRoot(document.getElementById('graphiql')).render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultQuery: DEFAULT_QUERY,
      defaultHeaders: JSON.stringify({ Authorization: PLACEHOLDER }, null, 2),
      defaultEditorToolsVisibility: 'headers',
      // A token stays in this page only, never in local storage.
      shouldPersistHeaders: false,
    })
  );
})();
