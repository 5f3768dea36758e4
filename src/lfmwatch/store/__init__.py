"""The store: state.db, its migrations, and every SQL statement lfmwatch runs."""
